"""``xxci cancel``: stop a run or one of its jobs."""

from __future__ import annotations

from pathlib import Path

import asyncclick as click

from xxci.cli.client.connect import connect, server_options
from xxci.cli.options import exits_cleanly
from xxci.common.printable import printable


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
    async with connect(local, server, token, tls_ca, existing=True) as api:
        outcome = await api.cancel(run_id, job or "")
    click.echo(printable(outcome.message))
    if not outcome.accepted:
        raise click.exceptions.Exit(1)


command = cancel
