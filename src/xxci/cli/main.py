"""The ``xxci`` command: one group, each command in a module of its own."""

from __future__ import annotations

import sys

import asyncclick as click

from xxci import __version__
from xxci.cli.cancel_cmd import cancel
from xxci.cli.check import check
from xxci.cli.dry_run import dry_run
from xxci.cli.events_cmd import events
from xxci.cli.logs_cmd import logs
from xxci.cli.play_cmd import play
from xxci.cli.report_cmd import report
from xxci.cli.run_cmd import run
from xxci.cli.server_cmd import server
from xxci.cli.status_cmd import status
from xxci.cli.verify_cmd import verify
from xxci.cli.web_cmd import web
from xxci.cli.worker_cmd import worker


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="xxci")
def cli() -> None:
    """xxci: pipelines from YAML, run on workers in Docker or locally."""


cli.add_command(run)
cli.add_command(cancel)
cli.add_command(play)
cli.add_command(server)
cli.add_command(worker)


cli.add_command(check)
cli.add_command(dry_run)
cli.add_command(report)
cli.add_command(status)
cli.add_command(logs)
cli.add_command(events)
cli.add_command(verify)
cli.add_command(web)


def main() -> None:
    """Console-script entry point. Ctrl-C ends a command quietly, with exit code 130."""
    try:
        cli(_anyio_backend="asyncio")
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
