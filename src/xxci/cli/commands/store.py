"""``xxci store migrate``: move a data directory's SQLite log into PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import asyncclick as click

from xxci.cli.options import exits_cleanly, plural
from xxci.common.api import VerifyResult
from xxci.orchestrator.store.backends import check_store_url, open_storage
from xxci.orchestrator.store.migrate import log_file, migrate_to_postgres
from xxci.orchestrator.views.verify import verify_log


@click.group("store")
def store() -> None:
    """Manage where an orchestrator keeps its data."""


@store.command("migrate")
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DATA_DIR",
    help="The data directory of an `xxci server` (events.db, blobs/) or an XXCI_HOME (local.db).",
)
@click.option(
    "--to",
    "target",
    required=True,
    metavar="URL",
    help="An empty PostgreSQL database: postgresql://USER[:PASSWORD]@HOST:PORT/DB.",
)
@exits_cleanly
async def migrate(source: Path, target: str) -> None:
    """Copy a SQLite log into an empty PostgreSQL store, then verify both.

    Everything is copied: events with their hash chain, the run index, job logs, the
    report cache and blobs. Stop the server first (the data directory is locked while
    it runs). Both sides are then verified as `xxci verify` does, and must end at the
    same head of the hash chain: exit 0 then, 1 otherwise. Start the servers with
    `xxci server --store URL` afterwards; the data directory is left as it was.
    """
    check_store_url(target)
    copied = await migrate_to_postgres(source, target, say=click.echo)
    sides = []
    db_name = log_file(source).name
    for name, store_url in ((str(source), None), (target, target)):
        storage = await open_storage(store_url, source, db_name)
        try:
            result = await verify_log(storage.events, storage.reports)
        finally:
            await storage.close()
        sides.append((storage.where if store_url else name, result))
    click.echo(
        f"copied {plural(copied.events, 'event')}, {plural(copied.runs, 'run')},"
        f" {plural(copied.log_chunks, 'log chunk')}, {plural(copied.reports, 'cached report')},"
        f" {plural(copied.workers, 'registered worker')}"
        f" and {plural(copied.blobs, 'blob')} to {sides[1][0]}"
    )
    for where, result in sides:
        click.echo(f"verify {where}: {_summary(result)}")
        for problem in result.problems:
            click.echo(f"  {problem}")
    (_, before), (_, after) = sides
    if not before.ok or not after.ok or before.head != after.head:
        if before.head != after.head:
            click.echo(f"the heads differ: {before.head or 'none'} and {after.head or 'none'}")
        raise click.exceptions.Exit(1)


def _summary(result: VerifyResult) -> str:
    if not result.ok:
        return f"{plural(len(result.problems), 'difference')}"
    head = f", head {result.head}" if result.head else ""
    return (
        f"{plural(result.runs, 'run')}, hash chain intact over"
        f" {plural(result.chained, 'event')}{head}"
    )


command = store
