"""``xxci cancel``: stop a run or one of its jobs."""

from __future__ import annotations

from pathlib import Path

import asyncclick as click

from xxci.cli.connection import connect, server_options
from xxci.cli.home import local_db
from xxci.cli.options import (
    exits_cleanly,
)
from xxci.common.errors import (
    ConflictError,
)
from xxci.common.events import run_stream
from xxci.orchestrator.domain.cancel import decide_cancel
from xxci.orchestrator.domain.state import replay
from xxci.orchestrator.store import EventStore
from xxci.orchestrator.views.queries import resolve_run


@click.command("cancel")
@click.argument("run_id", metavar="RUN")
@click.argument("job", required=False)
@server_options
@exits_cleanly
async def cancel(
    run_id: str,
    job: str | None,
    local: bool,
    server: str | None,
    token: str | None,
    tls_ca: Path | None,
) -> None:
    """Cancel a run, or one JOB of it. RUN is a run id or PIPELINE#N.

    Jobs not yet started end CANCELED at once; running ones get SIGTERM, then SIGKILL
    after the grace period.
    """
    if local:
        accepted, message = await cancel_local(run_id, job or "")
    else:
        async with connect(local, server, token, tls_ca) as client:
            reply = await client.cancel(run_id, job or "")
        accepted, message = reply.accepted, reply.message
    click.echo(message)
    if not accepted:
        raise click.exceptions.Exit(1)


async def cancel_local(run_id: str, job: str) -> tuple[bool, str]:
    """Record the cancel in the local log; the `xxci run --local` process that runs the
    run picks it up within a second and stops its containers."""
    store = await EventStore.open(local_db())
    try:
        run_id = await resolve_run(store, run_id)
        for _ in range(5):
            state = replay(await store.read_stream(run_stream(run_id)))
            decision = decide_cancel(state, job, reason="requested by user")
            if not decision.events:
                return decision.accepted, decision.message
            try:
                await store.append(run_stream(run_id), state.version, decision.events)
            except ConflictError:
                continue
            return decision.accepted, decision.message
        raise ConflictError(f"run {run_id} keeps changing; try again")
    finally:
        await store.close()
