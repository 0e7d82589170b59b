"""The ``xxci`` command: one group, each command in a module of its own."""

from __future__ import annotations

import asyncclick as click

from xxci import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="xxci")
def cli() -> None:
    """xxci: pipelines from YAML, run on workers in Docker or locally."""


def main() -> None:
    """Console-script entry point."""
    cli(_anyio_backend="asyncio")
