"""``xxci play``: start a manual job that waits to be played."""

from __future__ import annotations

from pathlib import Path

import asyncclick as click

from xxci.cli.client.connect import connect, server_options
from xxci.cli.options import exits_cleanly


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
    async with connect(local, server, token, tls_ca, existing=True) as api:
        outcome = await api.play(run_id, job)
    click.echo(outcome.message)
    if not outcome.accepted:
        raise click.exceptions.Exit(1)


command = play
