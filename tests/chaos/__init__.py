"""The chaos test: real processes killed at random while pipelines run (short form in
``test_chaos.py``; ``make chaos`` or ``python -m tests.chaos`` for the long form)."""
