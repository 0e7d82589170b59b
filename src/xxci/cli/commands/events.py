"""``xxci events``: the raw event log, for audit."""

from __future__ import annotations

from pathlib import Path

import asyncclick as click

from xxci.cli.client.connect import connect, server_options
from xxci.cli.display.event_view import event_json, event_line
from xxci.cli.display.interrupt import until_interrupted
from xxci.cli.options import exits_cleanly, whole_number
from xxci.common.printable import printable


@click.command("events")
@click.argument("run", metavar="[RUN]", required=False)
@click.option("--since", metavar="SEQ", help="Only events after global position SEQ.")
@click.option(
    "-f",
    "--follow",
    is_flag=True,
    help="Keep printing new events: until RUN finishes, or (whole log) until interrupted.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: one aligned line per event; json: one JSON object per line (JSONL).",
)
@server_options
@exits_cleanly
async def events(
    run: str | None,
    since: str | None,
    follow: bool,
    fmt: str,
    local: bool,
    server: str | None,
    token: str | None,
    tls_ca: Path | None,
) -> None:
    """Print the event log (one run's, or all of it), for audit.

    Every event of RUN (a run id or PIPELINE#N), or of the whole log, in order.
    Text lines read `seq  time  stream  version  type  fields` (local time; a
    run's pipeline spec shows as its name). --format json
    prints JSONL: {"seq", "stream", "version", "type", "data", "at"} with the event's
    complete fields in data and the UTC time in at. A seq is a global position:
    `xxci report --at SEQ` shows the reports as they stood just after it.
    """
    after = whole_number(since, "--since", minimum=0)
    render = event_json if fmt == "json" else event_line
    async with connect(local, server, token, tls_ca, existing=True) as api:
        async for rec in until_interrupted(api.events(run or "", after, follow)):
            click.echo(printable(render(rec), keep_newlines=True))


command = events
