"""``xxci report``: runs, stages, jobs and commands, derived from the event log."""

from __future__ import annotations

from pathlib import Path

import asyncclick as click

from xxci.cli.client.connect import connect, server_options
from xxci.cli.display.report_view import report_view
from xxci.cli.display.text import dump_document, make_console, print_all
from xxci.cli.options import exits_cleanly, whole_number
from xxci.cli.repo.gitinfo import describe
from xxci.common.api import ReportQuery

FORMATS = ["text", "json", "yaml"]


def repository_name(repo: str | None) -> str:
    """The repository as runs record it: given as is, or read from a checkout folder."""
    if not repo:
        return ""
    path = Path(repo)
    return describe(path).repo if path.is_dir() else repo


@click.command("report")
@click.option(
    "--repo",
    metavar="REPO",
    help="Only runs of this repository: as recorded (its origin URL, or its folder name), "
    "or the path of a checkout.",
)
@click.option("--pipeline", metavar="NAME", help="Only this pipeline's runs, with their stages.")
@click.option("--run", "run_number", metavar="N", help="Only run #N of the pipeline.")
@click.option("--stage", metavar="NAME", help="That stage of each run, with its jobs.")
@click.option("--job", metavar="NAME", help="That job of the stage: attempts and commands.")
@click.option(
    "--at",
    "at_seq",
    metavar="SEQ",
    help="The report as it stood just after event SEQ (see xxci events).",
)
@click.option("--branch", metavar="NAME", help="Only runs of this branch.")
@click.option(
    "--status",
    metavar="STATUS",
    help="Only runs with this status: PENDING, RUNNING, SUCCESS, FAILED or CANCELED.",
)
@click.option("--last", metavar="N", help="Only the newest N runs.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text: tables for people; json, yaml: the whole document, for scripts.",
)
@server_options
@exits_cleanly
async def report(
    repo: str | None,
    pipeline: str | None,
    run_number: str | None,
    stage: str | None,
    job: str | None,
    at_seq: str | None,
    branch: str | None,
    status: str | None,
    last: str | None,
    fmt: str,
    local: bool,
    server: str | None,
    token: str | None,
    tls_ca: Path | None,
) -> None:
    """Report runs, stages, jobs and commands from the event log.

    \b
    Each filter narrows the one before:
      (none) or --repo R           every run: pipeline, run, branch, commit, status, times
      --pipeline P [--run N]       that pipeline's runs (or run #N) with their stages
      --pipeline P --stage S       the stage of each run with its jobs
      ... --stage S --job J        the job: its attempts, each command and its exit code
    --branch B and --status S keep the runs of that branch and status (at --at SEQ,
    the status then).

    --format json (or yaml) prints the report document: with --run, that run's
    document (the same as the local report file reports/<pipeline>/<N>.json);
    otherwise {"report_version", "level", "at_seq", "runs": [...]} where each run
    holds what its level names (no stages for a plain listing, stages without jobs
    for --pipeline). Times in documents are UTC (RFC 3339); text shows local time.
    Asks the orchestrator at --server (or XXCI_SERVER), or the local one with --local.
    """
    query = ReportQuery(
        repo=repository_name(repo),
        pipeline=pipeline or "",
        run=whole_number(run_number, "--run"),
        stage=stage or "",
        job=job or "",
        at_seq=whole_number(at_seq, "--at"),
        last=whole_number(last, "--last"),
        branch=branch or "",
        status=status or "",
    )
    query.check()
    async with connect(local, server, token, tls_ca, existing=True) as api:
        doc = await api.report(query)
    if fmt != "text":
        click.echo(dump_document(doc, fmt), nl=False)
        return
    print_all(make_console(), report_view(doc, query.level))


command = report
