"""``xxci play``: start a manual job that waits to be played."""

from __future__ import annotations

from pathlib import Path

import asyncclick as click

from xxci.cli.client.connect import connect, server_options
from xxci.cli.commands.run import make_console
from xxci.cli.display.follow import follow_run
from xxci.cli.options import exits_cleanly
from xxci.common.printable import printable
from xxci.common.status import RunStatus


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
    go on once it is done. A run that finished without it opens again, as in GitLab,
    and finishes again once it is done; with --local, no other xxci process running
    that run's jobs any more, this command runs the job itself and follows the run to
    its end. Exit status: 0 played (and, so followed, the run succeeded), 1 it could
    not be (the job is not waiting to be played) or the run so followed failed, 2 bad
    command line.
    """
    async with connect(local, server, token, tls_ca, existing=True) as api:
        before = await api.run_report(run_id)
        outcome = await api.play(run_id, job)
    click.echo(printable(outcome.message))
    if not outcome.accepted:
        raise click.exceptions.Exit(1)
    if not local or not RunStatus(before["status"]).finished:
        return
    # The local orchestrator stopped with the run it had finished: run the job here.
    console = make_console()
    async with connect(local, server, token, tls_ca, jobs=1, existing=True) as api:
        ok = await follow_run(api, before["run_id"], console, verbose=False, local=True)
    if not ok:
        raise click.exceptions.Exit(1)


command = play
