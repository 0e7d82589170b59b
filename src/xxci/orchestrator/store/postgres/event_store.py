"""The PostgreSQL backend of :class:`~xxci.orchestrator.store.ports.EventStorage`.

The event log (``event_log.py``), its run index and a change feed that hears every
orchestrator's appends: each append transaction ends with ``pg_notify`` of the new
last seq, and :class:`~._pg.Listener` wakes this process's followers when it arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from xxci.common.closing import AsyncClosing
from xxci.common.errors import NotFoundError
from xxci.common.events import Event, RecordedEvent, RunCreated, RunFinished, RunReopened
from xxci.common.status import RunStatus
from xxci.orchestrator.store._sqlite import format_time
from xxci.orchestrator.store.chain import Anchor, ChainReport
from xxci.orchestrator.store.changes import ChangeNotifier
from xxci.orchestrator.store.postgres._pg import Listener, PgDatabase
from xxci.orchestrator.store.postgres.event_log import PgEventLog, decode_pg_rows
from xxci.orchestrator.store.postgres.event_writer import EVENTS_CHANNEL
from xxci.orchestrator.store.postgres.schema import SCHEMA, SCHEMA_LOCK
from xxci.orchestrator.store.run_index import COLUMNS, RunRow, row_from_event, row_params
from xxci.orchestrator.store.sqlite_chain import CHAIN_ADDED_AT, CHAIN_SEALED_UP_TO

__all__ = ["PgEventStore", "create_schema"]

_FINISHED = [s.value for s in RunStatus if s.finished]


async def create_schema(db: PgDatabase) -> None:
    """Create what is missing, under an advisory lock (orchestrators may start at once)."""
    async with db.transaction() as conn:
        await conn.execute(b"SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        await conn.execute(SCHEMA.encode())
        await conn.execute(
            b"INSERT INTO log_meta (name, value) VALUES (%s, %s), (%s, %s)"
            b" ON CONFLICT (name) DO NOTHING",
            (CHAIN_ADDED_AT, format_time(datetime.now(UTC)), CHAIN_SEALED_UP_TO, "0"),
        )


class PgEventStore(AsyncClosing):
    """Event log, run index and change feed on one PostgreSQL database. Open with
    ``await PgEventStore.open(url)``; the contracts are those of the storage port."""

    def __init__(self, db: PgDatabase, last_seq: int) -> None:
        self._db = db
        self.changes = ChangeNotifier(last_seq)
        self.log = PgEventLog(db, self.changes.published)
        self._listener = Listener(db.url, [EVENTS_CHANNEL], self._notified, self._caught_up)

    @classmethod
    async def open(cls, url: str) -> PgEventStore:
        db = await PgDatabase.open(url)
        try:
            await create_schema(db)
            rows = await db.read("SELECT seq FROM log_head WHERE id = 1")
            store = cls(db, int(rows[0][0]))
        except BaseException:
            await db.close()
            raise
        try:
            await store._listener.start()
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        try:
            await self._listener.close()
            await self.log.close()
        finally:
            await self._db.close()

    async def _notified(self, _channel: str, payload: str) -> None:
        if payload.isdigit():
            await self.changes.published(int(payload))

    async def _caught_up(self) -> None:
        await self.changes.published(await self.log.last_seq())

    # --- the event log ------------------------------------------------------------------

    async def append(
        self,
        stream: str,
        expected_version: int,
        events: Sequence[Event],
        at: datetime | None = None,
    ) -> list[RecordedEvent]:
        return await self.log.append(stream, expected_version, events, at)

    async def append_run_created(
        self,
        run_id: str,
        make_event: Callable[[int], RunCreated],
        at: datetime | None = None,
    ) -> list[RecordedEvent]:
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
        return await self.log.check_chain(anchor)

    # --- the change feed ----------------------------------------------------------------

    async def wait_for(self, after_seq: int, timeout: float) -> bool:  # noqa: ASYNC109
        """Wakes on appends of any orchestrator on the database (LISTEN/NOTIFY)."""
        return await self.changes.wait_for(after_seq, timeout)

    # --- the run index ------------------------------------------------------------------

    async def next_run_number(self, pipeline: str) -> int:
        rows = await self._db.read(
            "SELECT COALESCE(MAX(number), 0) + 1 FROM runs WHERE pipeline = %s", (pipeline,)
        )
        return int(rows[0][0])

    async def find_runs(
        self,
        repo: str | None = None,
        pipeline: str | None = None,
        number: int | None = None,
        limit: int | None = None,
    ) -> list[RunRow]:
        clauses: list[str] = []
        params: list[object] = []
        for column, value in (("repo", repo), ("pipeline", pipeline), ("number", number)):
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT {COLUMNS} FROM runs {where} ORDER BY created_seq DESC"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        rows = await self._db.read(sql, params)
        return [RunRow.from_db(row) for row in reversed(rows)]

    async def pipelines(self, repo: str | None = None) -> list[str]:
        sql, params = "SELECT DISTINCT pipeline FROM runs", []
        if repo is not None:
            sql, params = sql + " WHERE repo = %s", [repo]
        return [str(row[0]) for row in await self._db.read(sql + " ORDER BY pipeline", params)]

    async def live_runs(self) -> list[RunRow]:
        rows = await self._db.read(
            f"SELECT {COLUMNS} FROM runs WHERE finished_seq IS NULL ORDER BY created_seq"
        )
        return [RunRow.from_db(row) for row in rows]

    async def get_run(self, run_id: str) -> RunRow:
        rows = await self._db.read(f"SELECT {COLUMNS} FROM runs WHERE run_id = %s", (run_id,))
        if not rows:
            raise NotFoundError(f"no run {run_id!r}")
        return RunRow.from_db(rows[0])

    async def rebuild_run_index(self) -> int:
        """Recompute the index from the log, under the log's lock (no append meanwhile)."""
        return await self._db.complete(self._rebuild())

    async def _rebuild(self) -> int:
        async with self._db.transaction() as conn:
            await conn.execute(b"SELECT seq FROM log_head WHERE id = 1 FOR UPDATE")
            await conn.execute(b"DELETE FROM runs")
            cur = await conn.execute(
                b"SELECT seq, stream, version, type, data, at FROM events"
                b" WHERE type = %s ORDER BY seq",
                (RunCreated.type,),
            )
            index = [row_from_event(r) for r in decode_pg_rows(await cur.fetchall())]
            marks = ", ".join(["%s"] * 10)
            async with conn.cursor() as many:
                await many.executemany(
                    f"INSERT INTO runs ({COLUMNS}) VALUES ({marks})".encode(),
                    [row_params(row) for row in index],
                )
            await conn.execute(
                b"UPDATE runs SET finished_seq = (SELECT MIN(e.seq) FROM events AS e"
                b" WHERE e.stream = runs.stream AND e.type = %s"
                b" AND (e.data::jsonb ->> 'status') = ANY(%s)"
                b" AND e.seq > (SELECT COALESCE(MAX(r.seq), 0) FROM events AS r"
                b" WHERE r.stream = runs.stream AND r.type = %s))",
                (RunFinished.type, _FINISHED, RunReopened.type),
            )
            return len(index)
