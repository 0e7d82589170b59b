"""``xxci secret``: the orchestrator's secret store (``--local``: ``$XXCI_HOME``'s)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import asyncclick as click

from xxci.cli.client.connect import connect, server_options
from xxci.cli.display.text import local_time, make_console, table
from xxci.cli.options import exits_cleanly
from xxci.common.errors import NotFoundError, UsageError

_PIPELINE_HELP = "Only for jobs of pipeline P (default: every pipeline)."


def _scope(pipeline: str) -> str:
    return f"pipeline {pipeline}" if pipeline else "every pipeline"


@click.group("secret")
def secret() -> None:
    """Secrets given to the jobs that ask for them (`secrets: [NAME]` in a job).

    Values are kept apart from the event log, never shown again, and masked in job
    logs; the log of a run records only which secret names each attempt was given.
    """


@secret.command("set")
@click.argument("name")
@click.option(
    "--from-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Read the value from this file, as it is (default: standard input, less one"
    " trailing newline).",
)
@click.option("--pipeline", metavar="P", default="", help=_PIPELINE_HELP)
@server_options
@exits_cleanly
async def set_secret(
    name: str,
    from_file: Path | None,
    pipeline: str,
    local: bool,
    server: str | None,
    token: str | None,
    tls_ca: Path | None,
) -> None:
    """Set secret NAME (replacing its value), read from standard input or a file."""
    if from_file is not None:
        value = await asyncio.to_thread(from_file.read_bytes)
    else:
        if sys.stdin.isatty():
            click.echo(f"value of {name} (end with Ctrl-D):", err=True)
        value = sys.stdin.buffer.read()
        value = value[:-1] if value.endswith(b"\n") else value
        value = value[:-1] if value.endswith(b"\r") else value
    if not value:
        raise UsageError(f"no value given for secret {name} (standard input was empty)")
    async with connect(local, server, token, tls_ca) as api:
        row = await api.set_secret(name, value, pipeline)
    click.echo(f"secret {row.name} set for {_scope(row.pipeline)} ({row.size} bytes)")


@secret.command("ls")
@server_options
@exits_cleanly
async def list_secrets(
    local: bool, server: str | None, token: str | None, tls_ca: Path | None
) -> None:
    """List the secrets: names, scope, size and when set (never values)."""
    async with connect(local, server, token, tls_ca) as api:
        rows = await api.secrets()
    if not rows:
        click.echo("no secrets")
        return
    body = [(r.name, r.pipeline or "(every)", str(r.size), local_time(r.updated_at)) for r in rows]
    make_console().print(table(("NAME", "PIPELINE", "BYTES", "SET"), body))


@secret.command("rm")
@click.argument("name")
@click.option("--pipeline", metavar="P", default="", help="The secret of pipeline P.")
@server_options
@exits_cleanly
async def remove_secret(
    name: str,
    pipeline: str,
    local: bool,
    server: str | None,
    token: str | None,
    tls_ca: Path | None,
) -> None:
    """Remove secret NAME (of every pipeline, or of --pipeline P)."""
    async with connect(local, server, token, tls_ca) as api:
        removed = await api.remove_secret(name, pipeline)
    if not removed:
        raise NotFoundError(f"no secret {name} for {_scope(pipeline)}")
    click.echo(f"secret {name} removed for {_scope(pipeline)}")


command = secret
