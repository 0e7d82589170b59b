"""The SQLite backend of :class:`~xxci.orchestrator.store.ports.EventStorage`.

One SQLite file (WAL) holds the event log (``event_log.py``, ``_event_rows.py``) and
the run index (``run_index.py``); the change feed (``changes.py``) lives in this
process. :class:`EventStore` opens the file, creates what is missing (a log written
before the run index existed gets one) and puts the three behind one object.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from xxci.common.closing import AsyncClosing
from xxci.common.events import Event, RecordedEvent, RunCreated
from xxci.orchestrator.store._event_rows import EVENTS_SCHEMA
from xxci.orchestrator.store._sqlite import Database, Synchronous, format_time
from xxci.orchestrator.store.chain import Anchor, ChainReport
from xxci.orchestrator.store.changes import ChangeNotifier
from xxci.orchestrator.store.event_log import SqliteEventLog
from xxci.orchestrator.store.run_index import (
    RUNS_SCHEMA,
    RunRow,
    SqliteRunIndex,
    migrate_runs,
    rebuild_runs,
)
from xxci.orchestrator.store.sqlite_chain import CHAIN_ADDED_AT, get_meta, seal_existing

__all__ = ["EventStore"]


class EventStore(AsyncClosing):
    """Append-only event log with optimistic concurrency per stream, its run index and
    its change feed, on one SQLite file.

    Open with ``await EventStore.open(path)``; close with ``await store.close()`` (or
    ``async with``). All methods are coroutines; none blocks the event loop. The
    contracts are those of :mod:`xxci.orchestrator.store.ports`.
    """

    def __init__(self, db: Database, last_seq: int) -> None:
        self._db = db
        self.changes = ChangeNotifier(last_seq)
        self.log = SqliteEventLog(db, self.changes.published)
        self.runs = SqliteRunIndex(db)

    @classmethod
    async def open(cls, path: Path, *, synchronous: Synchronous = "FULL") -> EventStore:
        """Open (or create) the log at ``path``; rebuild the run index if it was missing."""
        db = await Database.open(path, synchronous=synchronous)
        try:
            await db.write(_create_schema)
            rows = await db.read("SELECT COALESCE(MAX(seq), 0) FROM events")
        except BaseException:
            await db.close()
            raise
        return cls(db, int(rows[0][0]))

    async def close(self) -> None:
        """Finish pending appends and close the file. Idempotent."""
        try:
            await self.log.close()
        finally:
            await self._db.close()

    # --- the event log --------------------------------------------------------------

    async def append(
        self,
        stream: str,
        expected_version: int,
        events: Sequence[Event],
        at: datetime | None = None,
    ) -> list[RecordedEvent]:
        """See :meth:`SqliteEventLog.append`."""
        return await self.log.append(stream, expected_version, events, at)

    async def append_run_created(
        self,
        run_id: str,
        make_event: Callable[[int], RunCreated],
        at: datetime | None = None,
    ) -> list[RecordedEvent]:
        """See :meth:`SqliteEventLog.append_run_created`."""
        return await self.log.append_run_created(run_id, make_event, at)

    async def read_stream(
        self, stream: str, after_version: int = 0, up_to_seq: int | None = None
    ) -> list[RecordedEvent]:
        return await self.log.read_stream(stream, after_version, up_to_seq)

    async def read_all(
        self,
        since_seq: int = 0,
        limit: int | None = None,
        up_to_seq: int | None = None,
        stream_prefix: str | None = None,
    ) -> list[RecordedEvent]:
        return await self.log.read_all(since_seq, limit, up_to_seq, stream_prefix)

    async def read_streams(
        self, streams: Sequence[str], up_to_seq: int | None = None
    ) -> dict[str, list[RecordedEvent]]:
        return await self.log.read_streams(streams, up_to_seq)

    async def stream_version(self, stream: str) -> int:
        return await self.log.stream_version(stream)

    async def last_seq(self) -> int:
        return await self.log.last_seq()

    async def streams(self, prefix: str = "") -> list[str]:
        return await self.log.streams(prefix)

    async def check_chain(self, anchor: Anchor | None = None) -> ChainReport:
        """See :meth:`SqliteEventLog.check_chain`."""
        return await self.log.check_chain(anchor)

    # --- the change feed ------------------------------------------------------------

    async def wait_for(self, after_seq: int, timeout: float) -> bool:  # noqa: ASYNC109
        """See :meth:`ChangeNotifier.wait_for`."""
        return await self.changes.wait_for(after_seq, timeout)

    # --- the run index --------------------------------------------------------------

    async def next_run_number(self, pipeline: str) -> int:
        return await self.runs.next_run_number(pipeline)

    async def find_runs(
        self,
        repo: str | None = None,
        pipeline: str | None = None,
        number: int | None = None,
        limit: int | None = None,
    ) -> list[RunRow]:
        return await self.runs.find_runs(repo, pipeline, number, limit)

    async def pipelines(self, repo: str | None = None) -> list[str]:
        return await self.runs.pipelines(repo)

    async def live_runs(self) -> list[RunRow]:
        return await self.runs.live_runs()

    async def get_run(self, run_id: str) -> RunRow:
        return await self.runs.get_run(run_id)

    async def rebuild_run_index(self) -> int:
        return await self.runs.rebuild_run_index()


def _create_schema(conn: sqlite3.Connection) -> None:
    rows = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'"
    ).fetchall()
    had_index = bool(rows)
    columns = [row[1] for row in conn.execute("PRAGMA table_info(events)")]
    for statement in _statements(EVENTS_SCHEMA + RUNS_SCHEMA):
        conn.execute(statement)
    if columns and "hash" not in columns:  # a log written before the hash chain existed
        conn.execute("ALTER TABLE events ADD COLUMN hash TEXT")
    if get_meta(conn, CHAIN_ADDED_AT) is None:
        seal_existing(conn, format_time(datetime.now(UTC)))
    if not had_index:  # a log written before the run index existed
        rebuild_runs(conn)
    migrate_runs(conn)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
