"""``xxci worker ls`` and ``xxci worker revoke``: the workers' identities, for operators."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncclick as click
from rich.text import Text

from xxci.cli.client.connect import connect, server_options
from xxci.cli.display.text import dump_document, make_console, print_all, table
from xxci.cli.options import exits_cleanly
from xxci.common.api import RegisteredWorker

__all__ = ["ls", "revoke", "workers_document", "workers_table"]


@click.command("ls")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: a table for people; json: every field, for scripts.",
)
@server_options
@exits_cleanly
async def ls(
    fmt: str, local: bool, server: str | None, token: str | None, tls_ca: Path | None
) -> None:
    """List every worker that registered: its id, name, state (connected,
    disconnected or revoked), when it registered and when it was last heard from.

    --format json: {"workers": [{id, name, connected, registered_at, last_seen_at,
    revoked_at}]} (times in RFC 3339, UTC; null for never).
    """
    async with connect(local, server, token, tls_ca, existing=True) as api:
        found = await api.workers()
    if fmt == "json":
        click.echo(dump_document(workers_document(found), "json"), nl=False)
    elif not found:
        click.echo("no worker has registered yet")
    else:
        print_all(make_console(), [workers_table(found)])


@click.command("revoke")
@click.argument("worker_id", metavar="ID")
@server_options
@exits_cleanly
async def revoke(
    worker_id: str, local: bool, server: str | None, token: str | None, tls_ca: Path | None
) -> None:
    """Revoke the credential of worker ID (see `xxci worker ls`).

    Its connection is closed at once and its running jobs run again elsewhere; it
    cannot connect again until it registers anew (`xxci worker --register`, with the
    server's token). Exit 1 if it was revoked already.
    """
    async with connect(local, server, token, tls_ca, existing=True) as api:
        outcome = await api.revoke_worker(worker_id)
    click.echo(outcome.message)
    if not outcome.accepted:
        raise click.exceptions.Exit(1)


def state(worker: RegisteredWorker) -> str:
    if worker.revoked_at is not None:
        return "revoked"
    return "connected" if worker.connected else "disconnected"


def workers_table(found: Sequence[RegisteredWorker]) -> Text:
    """ID, NAME, STATE, REGISTERED, LAST SEEN (local times), one row per worker."""
    rows = [
        [w.worker_id, w.name, state(w), _local(w.registered_at), _local(w.last_seen_at)]
        for w in found
    ]
    return table(["ID", "NAME", "STATE", "REGISTERED", "LAST SEEN"], rows)


def workers_document(found: Sequence[RegisteredWorker]) -> dict[str, Any]:
    return {
        "workers": [
            {
                "id": w.worker_id,
                "name": w.name,
                "connected": w.connected,
                "registered_at": w.registered_at.isoformat(),
                "last_seen_at": _iso(w.last_seen_at),
                "revoked_at": _iso(w.revoked_at),
            }
            for w in found
        ]
    }


def _local(at: datetime | None) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if at is not None else "never"


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None
