"""`python -m xxci.cli`."""

from xxci.cli.main import main

main()
