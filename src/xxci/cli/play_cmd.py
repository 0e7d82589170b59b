"""``xxci play``: start a manual job that waits to be played."""

from __future__ import annotations

from pathlib import Path

import asyncclick as click

from xxci.cli.connection import connect, server_options
from xxci.cli.home import local_db
from xxci.cli.options import exits_cleanly
from xxci.common.events import run_stream
from xxci.orchestrator.domain.cancel import CancelDecision
from xxci.orchestrator.domain.play import decide_play
from xxci.orchestrator.store import EventStore
from xxci.orchestrator.store.conflicts import retry_on_conflict
from xxci.orchestrator.views.load import load_run
from xxci.orchestrator.views.queries import resolve_run


@click.command("play")
@click.argument("run_id", metavar="RUN")
@click.argument("job")
@server_options
@exits_cleanly
async def play(
    run_id: str,
    job: str,
    local: bool,
    server: str | None,
    token: str | None,
    tls_ca: Path | None,
) -> None:
    """Play JOB of RUN: a manual job (when: manual) that waits to be played.

    RUN is a run id or PIPELINE#N. The job is queued at once; the jobs waiting for it
    go on once it is done. Exit status: 0 played, 1 it could not be (the run finished,
    the job is not waiting to be played), 2 bad command line.
    """
    if local:
        accepted, message = await play_local(run_id, job)
    else:
        async with connect(local, server, token, tls_ca) as client:
            reply = await client.play(run_id, job)
        accepted, message = reply.accepted, reply.message
    click.echo(message)
    if not accepted:
        raise click.exceptions.Exit(1)


async def play_local(run_id: str, job: str) -> tuple[bool, str]:
    """Record the play in the local log; the `xxci run --local` process that runs the
    run picks it up within a second and queues the job."""
    store = await EventStore.open(local_db())
    try:
        run_id = await resolve_run(store, run_id)

        async def attempt(_again: bool) -> CancelDecision:
            state = await load_run(store, run_id)
            decision = decide_play(state, job, by="xxci play --local")
            if decision.events:
                await store.append(run_stream(run_id), state.version, decision.events)
            return decision

        decision = await retry_on_conflict(attempt, f"run {run_id}")
        return decision.accepted, decision.message
    finally:
        await store.close()
