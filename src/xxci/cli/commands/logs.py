"""``xxci logs``: a job's output, as stored, optionally followed while it runs."""

from __future__ import annotations

from pathlib import Path

import asyncclick as click

from xxci.cli.client.connect import connect, server_options
from xxci.cli.display.interrupt import until_interrupted
from xxci.cli.options import exits_cleanly, whole_number


@click.command("logs")
@click.argument("run", metavar="RUN")
@click.argument("job")
@click.option("--attempt", metavar="N", help="That attempt of the job (default: the latest).")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new output until the job ends.")
@click.option(
    "--service",
    metavar="NAME",
    default="",
    help="The log of the job's service NAME (its alias) instead of the job's.",
)
@server_options
@exits_cleanly
async def logs(
    run: str,
    job: str,
    attempt: str | None,
    follow: bool,
    service: str,
    local: bool,
    server: str | None,
    token: str | None,
    tls_ca: Path | None,
) -> None:
    """Print the output of JOB in RUN (raw, in order), or follow it.

    RUN is a run id, or PIPELINE#N (PIPELINE/N works too): run N of that pipeline.
    Standard output and standard error come interleaved as the job wrote them, with
    a `$ command` line before each script command. --follow tails a job that is still
    running (or not started yet) until it ends; when the latest attempt is retried,
    the new attempt follows, announced on stderr. --service NAME prints the log of
    the job's service NAME instead (kept when the job ended; secrets masked).
    """
    number = whole_number(attempt, "--attempt")
    out = click.get_binary_stream("stdout")
    async with connect(local, server, token, tls_ca, existing=True) as api:
        shown = 0
        async for piece in until_interrupted(api.logs(run, job, number, follow, service)):
            if shown and piece.attempt != shown:
                out.flush()
                click.echo(f"--- attempt {piece.attempt} ---", err=True)
            shown = piece.attempt
            out.write(piece.data)
            out.flush()


command = logs
