"""One module per ``xxci`` command; ``xxci.cli.main`` imports each only when it runs."""
