"""Filling an empty PostgreSQL store with rows copied as they are from another store.

Rows are taken as stored (event data and times byte for byte, hashes included), so
the hash chain checks the same on both sides and its head is the same. Everything
but blobs goes in one transaction: the copy is whole or absent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from xxci.common.errors import XxciError
from xxci.orchestrator.store.postgres._pg import PgDatabase
from xxci.orchestrator.store.postgres.event_store import create_schema

__all__ = ["TableRows", "import_rows"]

Rows = AsyncIterator[Sequence[tuple[Any, ...]]]

TableRows = dict[str, tuple[str, Rows]]
"""Table name -> (its columns, comma-separated; its rows in pages)."""

_ORDER = ("events", "log_meta", "runs", "logs", "report_cache", "worker_identities")


async def import_rows(url: str, tables: TableRows) -> dict[str, int]:
    """Copy ``tables`` (among events, log_meta, runs, logs, report_cache,
    worker_identities) into the
    empty store at ``url``; move the log's head to its last event. Returns the row
    count of each. XxciError if the store already holds events."""
    db = await PgDatabase.open(url, max_size=1)
    try:
        await create_schema(db)
        counts: dict[str, int] = {}
        async with db.transaction() as conn:
            cur = await conn.execute(b"SELECT seq FROM log_head WHERE id = 1 FOR UPDATE")
            head = await cur.fetchone()
            if head is not None and int(head[0]) > 0:
                raise XxciError(
                    f"{db.name} already holds {head[0]} events: migrate into an empty database"
                )
            await conn.execute(b"DELETE FROM log_meta")
            for table in _ORDER:
                if table not in tables:
                    continue
                columns, pages = tables[table]
                counts[table] = 0
                async with conn.cursor() as cursor:
                    copy_sql = f"COPY {table} ({columns}) FROM STDIN".encode()
                    async with cursor.copy(copy_sql) as copy:
                        async for page in pages:
                            for row in page:
                                await copy.write_row(row)
                            counts[table] += len(page)
            await conn.execute(
                b"UPDATE log_head SET (seq, hash) = (SELECT seq, hash FROM events"
                b" ORDER BY seq DESC LIMIT 1) WHERE id = 1 AND EXISTS (SELECT 1 FROM events)"
            )
        return counts
    finally:
        await db.close()
