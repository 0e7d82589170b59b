"""The ``xxci`` command: one group, each command in a module of its own.

A command's module is imported only when that command runs (or help lists them all),
so ``xxci check`` and ``xxci dry-run`` start without gRPC, SQLite or Docker clients.
"""

from __future__ import annotations

import gc
import importlib
import sys

import asyncclick as click

from xxci import __version__

COMMANDS = {
    "run": "xxci.cli.commands.run",
    "cancel": "xxci.cli.commands.cancel",
    "play": "xxci.cli.commands.play",
    "server": "xxci.cli.commands.server",
    "worker": "xxci.cli.commands.worker",
    "check": "xxci.cli.commands.check",
    "dry-run": "xxci.cli.commands.dry_run",
    "report": "xxci.cli.commands.report",
    "status": "xxci.cli.commands.status",
    "logs": "xxci.cli.commands.logs",
    "events": "xxci.cli.commands.events",
    "verify": "xxci.cli.commands.verify",
    "store": "xxci.cli.commands.store",
    "web": "xxci.cli.commands.web",
    "secret": "xxci.cli.commands.secret",
    "cache": "xxci.cli.commands.cache",
}
"""Command name -> the module whose ``command`` it is."""


class LazyGroup(click.Group):
    """A group that imports a command's module when the command is looked up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        command: click.Command = importlib.import_module(module).command
        _imported()
        return command


def _imported() -> None:
    """The command's modules are in: from now on the garbage collector runs, but never
    over what start-up made (modules, classes, constants: they live as long as the
    process). :func:`main` holds it off while the command is imported; collecting
    then was repeated work over every object imported so far (144 young, 13 middle
    and a full collection in a one-job ``run --local``)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="xxci")
def cli() -> None:
    """xxci: pipelines from YAML, run on workers in Docker or locally."""


def main() -> None:
    """Console-script entry point. Ctrl-C ends a command quietly, with exit code 130."""
    gc.disable()  # until the command is imported: see _imported
    try:
        cli(_anyio_backend="asyncio")
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
    finally:
        # The process ends here. Without this, the interpreter's last garbage
        # collection walks and frees every object the command imported and made
        # (gRPC, protobuf, aiohttp, ...): that took longer than the command's own
        # imports. Frozen objects are left to the exit; files, sockets and the event
        # log are closed by then, and atexit handlers still run.
        gc.freeze()
