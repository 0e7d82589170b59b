"""``xxci verify``: check that everything derived from the event log agrees with it."""

from __future__ import annotations

from pathlib import Path

import asyncclick as click

from xxci.cli.connection import server_options
from xxci.cli.options import exits_cleanly, plural
from xxci.cli.sources import open_source


@click.command("verify")
@server_options
@exits_cleanly
async def verify(local: bool, server: str | None, token: str | None, tls_ca: Path | None) -> None:
    """Replay the whole log and check all data derived from it.

    Every run is folded again from its events, and compared with: the run index
    (one row per RunCreated, same facts), the report cache (each finished run's
    report), and with --local the report files under $XXCI_HOME/reports (one per
    finished run, equal to its report). Exit status 0 when everything agrees; 1, with
    one line per difference (where, which field, both values), otherwise.
    """
    async with open_source(local, server, token, tls_ca) as source:
        result = await source.verify()
    checked = f"{plural(result.runs, 'run')}, {plural(result.events, 'event')}"
    if result.ok:
        click.echo(f"verified {checked}: all derived data agrees with the log")
        return
    for problem in result.problems:
        click.echo(problem)
    click.echo(
        f"verify: {plural(len(result.problems), 'difference')} between the log and the data"
        f" derived from it ({checked} checked)",
        err=True,
    )
    raise click.exceptions.Exit(1)
