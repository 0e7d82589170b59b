"""``xxci status``: what is running now, what waits and why, and the workers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import asyncclick as click

from xxci.cli.client.connect import connect, server_options
from xxci.cli.display.status_view import status_view
from xxci.cli.display.text import dump_document, make_console, print_all
from xxci.cli.options import exits_cleanly


@click.command("status")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: tables for people; json: the status document, for scripts.",
)
@server_options
@exits_cleanly
async def status(
    fmt: str, local: bool, server: str | None, token: str | None, tls_ca: Path | None
) -> None:
    """Show runs in flight, why their jobs wait, and the workers.

    A PENDING job waits for its needs; a QUEUED one for a worker, and the reason says
    which: none connected, none with the job's labels (tags), all busy or draining,
    or one about to take it. Workers show their capacity, free slots and running
    jobs. With --local, the workers are those of the `xxci run --local` processes
    using the local orchestrator.

    --format json: {"status_version": 1, "runs": [run fields + "stage" + "jobs":
    [{name, stage, status, attempt, worker, queued_at, started_at, reason}]],
    "workers": [{id, name, capacity, free, labels, draining, running}]}.
    """
    async with connect(local, server, token, tls_ca, existing=True) as api:
        doc = await api.status()
    if fmt == "json":
        click.echo(dump_document(doc, "json"), nl=False)
        return
    print_all(make_console(), status_view(doc, datetime.now(UTC)))


command = status
