"""``xxci cancel``: stop a run or one of its jobs."""

from __future__ import annotations

from pathlib import Path

import asyncclick as click

from xxci.cli.connection import connect, server_options
from xxci.cli.home import local_db
from xxci.cli.options import (
    exits_cleanly,
)
from xxci.common.events import run_stream
from xxci.orchestrator.domain.cancel import CancelDecision, decide_cancel
from xxci.orchestrator.store import EventStore
from xxci.orchestrator.store.conflicts import retry_on_conflict
from xxci.orchestrator.views.load import load_run
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

        async def attempt(_again: bool) -> CancelDecision:
            state = await load_run(store, run_id)
            decision = decide_cancel(state, job, reason="requested by user")
            if decision.events:
                await store.append(run_stream(run_id), state.version, decision.events)
            return decision

        decision = await retry_on_conflict(attempt, f"run {run_id}")
        return decision.accepted, decision.message
    finally:
        await store.close()
