"""``xxci verify``: check that everything derived from the event log agrees with it."""

from __future__ import annotations

from pathlib import Path

import asyncclick as click

from xxci.cli.client.connect import connect, server_options
from xxci.cli.options import exits_cleanly, plural
from xxci.common.anchor import Anchor, parse_anchor
from xxci.common.api import VerifyResult
from xxci.common.errors import UsageError


@click.command("verify")
@click.option(
    "--anchor",
    metavar="[SEQ:HASH]",
    is_flag=False,
    flag_value="",
    default=None,
    help="Alone: print the head of the hash chain (keep it elsewhere). With SEQ:HASH "
    "printed earlier: also check the log up to that event is unchanged.",
)
@server_options
@exits_cleanly
async def verify(
    anchor: str | None,
    local: bool,
    server: str | None,
    token: str | None,
    tls_ca: Path | None,
) -> None:
    """Check the log's hash chain, replay the whole log and check all data derived from it.

    Every event is sealed with a hash chained to the one before it: the first event
    edited, inserted, deleted or reordered behind xxci's back is named. Every run is
    folded again from its events, and compared with: the run index (one row per
    RunCreated, same facts), the report cache (each finished run's report), and with
    --local the report files under $XXCI_HOME/reports (one per finished run, equal to
    its report). Exit status 0 when everything agrees; 1, with one line per difference
    (where, which field, both values), otherwise.

    The chain alone cannot show a log rewritten whole, hashes included: print its
    head with --anchor, keep that line somewhere else, and later run
    `xxci verify --anchor SEQ:HASH` to prove nothing up to that event has changed.
    """
    checked_anchor = _parse(anchor) if anchor else None
    async with connect(local, server, token, tls_ca, existing=True) as api:
        result = await api.verify(str(checked_anchor) if checked_anchor else "")
    checked = f"{plural(result.runs, 'run')}, {plural(result.events, 'event')}"
    if result.ok:
        click.echo(f"verified {checked}: all derived data agrees with the log")
        click.echo(_chain_line(result))
        if checked_anchor is not None:
            click.echo(
                f"anchor {checked_anchor}: holds (events up to {checked_anchor.seq}"
                " are as they were when it was taken)"
            )
        if anchor == "":
            click.echo(f"anchor: {result.head}" if result.head else "anchor: none (empty log)")
        return
    for problem in result.problems:
        click.echo(problem)
    click.echo(
        f"verify: {plural(len(result.problems), 'difference')} between the log and the data"
        f" derived from it ({checked} checked)",
        err=True,
    )
    raise click.exceptions.Exit(1)


def _parse(text: str) -> Anchor:
    try:
        return parse_anchor(text)
    except ValueError as err:
        raise UsageError(f"--anchor: {err}") from None


def _chain_line(result: VerifyResult) -> str:
    line = f"hash chain: intact over {plural(result.chained, 'event')}"
    if result.sealed_up_to:
        line += (
            f"; it was added to this log at {result.sealed_at}, when it held events"
            f" 1..{result.sealed_up_to}: those are vouched for from then on"
        )
    return line


command = verify
