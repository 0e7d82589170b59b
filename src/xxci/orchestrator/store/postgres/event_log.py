"""The PostgreSQL event log: group-committed appends (``event_writer.py``) and reads.

The same contracts as the SQLite log (:mod:`xxci.orchestrator.store.ports`). Appends
of this process wait in a bounded queue and one writer task commits everything queued
so far as one transaction: one WAL flush for the group. A group that fails as a whole
(a database error, not a conflict) is retried append by append, so one bad append
cannot fail the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
import psycopg.errors

from xxci.common.errors import ConflictError
from xxci.common.events import Event, RecordedEvent, RunCreated, decode_event, run_stream
from xxci.orchestrator.store._event_rows import gc_paused
from xxci.orchestrator.store._sqlite import format_time, parse_time
from xxci.orchestrator.store.chain import Anchor, ChainReport, ChainRow
from xxci.orchestrator.store.chain_walk import ChainReads, walk_chain
from xxci.orchestrator.store.event_log import _check_run_created
from xxci.orchestrator.store.event_writer import Append, Outcome
from xxci.orchestrator.store.postgres._pg import PgDatabase, Row
from xxci.orchestrator.store.postgres.event_writer import write_group
from xxci.orchestrator.store.run_index import pipeline_name
from xxci.orchestrator.store.sqlite_chain import CHAIN_ADDED_AT, CHAIN_SEALED_UP_TO

__all__ = ["PgEventLog", "decode_pg_rows"]

log = logging.getLogger("xxci.store")

_QUEUE_SIZE = 10_000
_GROUP_SIZE = 1_000
_STREAMS_PER_READ = 500
_COLUMNS = "seq, stream, version, type, data, at"

Published = Callable[[int], Awaitable[None]]


def decode_pg_rows(rows: Sequence[Row]) -> list[RecordedEvent]:
    return [
        RecordedEvent(
            seq=int(seq),
            stream=stream,
            version=int(version),
            at=parse_time(at),
            event=decode_event(type_name, data),
        )
        for seq, stream, version, type_name, data, at in rows
    ]


@dataclass
class _Pending:
    append: Append
    done: asyncio.Future[list[RecordedEvent]]


class PgEventLog:
    """The ``events`` table of one database; construct in a running loop (it starts
    its writer task)."""

    def __init__(self, db: PgDatabase, published: Published) -> None:
        self._db = db
        self._published = published
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue(_QUEUE_SIZE)
        self._closing = False
        self._writer = asyncio.create_task(self._write_forever(), name=f"event writer {db.name}")

    async def close(self) -> None:
        """Commit every append already queued and stop the writer. Idempotent."""
        if not self._closing:
            self._closing = True
            await self._queue.put(None)
        await self._writer

    async def append(
        self,
        stream: str,
        expected_version: int,
        events: Sequence[Event],
        at: datetime | None = None,
    ) -> list[RecordedEvent]:
        """See :meth:`xxci.orchestrator.store.event_log.SqliteEventLog.append`."""
        if expected_version < 0:
            raise ValueError(f"expected_version must be >= 0, got {expected_version}")
        if not events:
            return []
        for index, event in enumerate(events):
            if isinstance(event, RunCreated):
                _check_run_created(stream, expected_version + index, event)
        at_text = format_time(at or datetime.now(UTC))
        return await self._submit(Append(stream, expected_version, list(events), at_text))

    async def append_run_created(
        self,
        run_id: str,
        make_event: Callable[[int], RunCreated],
        at: datetime | None = None,
    ) -> list[RecordedEvent]:
        """The run's number is taken under the log's lock: distinct and gapless across
        every orchestrator on the database."""
        pipeline = pipeline_name(make_event(0))
        at_text = format_time(at or datetime.now(UTC))
        return await self._submit(Append(run_stream(run_id), 0, [], at_text, make_event, pipeline))

    async def _submit(self, append: Append) -> list[RecordedEvent]:
        if self._closing:
            raise RuntimeError(f"{self._db.name}: event log is closed")
        pending = _Pending(append, asyncio.get_running_loop().create_future())
        await self._queue.put(pending)
        return await asyncio.shield(pending.done)

    async def _write_forever(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            group, stop = [first], False
            while len(group) < _GROUP_SIZE and not self._queue.empty():
                pending = self._queue.get_nowait()
                if pending is None:
                    stop = True
                    break
                group.append(pending)
            await self._commit(group)
            if stop:
                return

    async def _commit(self, group: list[_Pending]) -> None:
        try:
            outcomes, last_seq = await self._transact([p.append for p in group])
        except Exception as exc:
            if len(group) > 1:  # find the one at fault: each alone
                for pending in group:
                    await self._commit([pending])
                return
            if isinstance(exc, psycopg.errors.UniqueViolation):
                stream = group[0].append.stream
                exc = ConflictError(f"stale append to stream {stream!r}: {exc}")
            _settle(group[0].done, exc)
            return
        for pending, outcome in zip(group, outcomes, strict=True):
            _settle(pending.done, outcome)
        if any(not isinstance(o, Exception) and o for o in outcomes):
            await self._published(last_seq)

    async def _transact(self, appends: list[Append]) -> tuple[list[Outcome], int]:
        async with self._db.transaction() as conn:
            return await write_group(conn, appends)

    # --- reads --------------------------------------------------------------------------

    async def _events(self, sql: str, params: Sequence[object]) -> list[RecordedEvent]:
        with gc_paused():
            return decode_pg_rows(await self._db.read(sql, params))

    async def read_stream(
        self, stream: str, after_version: int = 0, up_to_seq: int | None = None
    ) -> list[RecordedEvent]:
        sql = f"SELECT {_COLUMNS} FROM events WHERE stream = %s AND version > %s"
        params: list[object] = [stream, after_version]
        if up_to_seq is not None:
            sql += " AND seq <= %s"
            params.append(up_to_seq)
        return await self._events(sql + " ORDER BY version", params)

    async def read_all(
        self,
        since_seq: int = 0,
        limit: int | None = None,
        up_to_seq: int | None = None,
        stream_prefix: str | None = None,
    ) -> list[RecordedEvent]:
        clauses = ["seq > %s"]
        params: list[object] = [since_seq]
        if up_to_seq is not None:
            clauses.append("seq <= %s")
            params.append(up_to_seq)
        if stream_prefix:
            clauses.append("left(stream, %s) = %s")
            params += [len(stream_prefix), stream_prefix]
        sql = f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(clauses)} ORDER BY seq"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        return await self._events(sql, params)

    async def read_streams(
        self, streams: Sequence[str], up_to_seq: int | None = None
    ) -> dict[str, list[RecordedEvent]]:
        result: dict[str, list[RecordedEvent]] = {stream: [] for stream in streams}
        names = list(result)
        for start in range(0, len(names), _STREAMS_PER_READ):
            part = names[start : start + _STREAMS_PER_READ]
            sql = f"SELECT {_COLUMNS} FROM events WHERE stream = ANY(%s)"
            params: list[object] = [part]
            if up_to_seq is not None:
                sql += " AND seq <= %s"
                params.append(up_to_seq)
            for rec in await self._events(sql + " ORDER BY stream, version", params):
                result[rec.stream].append(rec)
        return result

    async def stream_version(self, stream: str) -> int:
        rows = await self._db.read(
            "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = %s", (stream,)
        )
        return int(rows[0][0])

    async def last_seq(self) -> int:
        """The last committed seq (the head row moves in the appending transaction)."""
        rows = await self._db.read("SELECT seq FROM log_head WHERE id = 1")
        return int(rows[0][0]) if rows else 0

    async def streams(self, prefix: str = "") -> list[str]:
        sql, params = "SELECT DISTINCT stream FROM events", []
        if prefix:
            sql, params = sql + " WHERE left(stream, %s) = %s", [len(prefix), prefix]
        rows = await self._db.read(sql + " ORDER BY stream", params)
        return [str(row[0]) for row in rows]

    async def check_chain(self, anchor: Anchor | None = None) -> ChainReport:
        async def rows_after(seq: int, limit: int) -> list[ChainRow]:
            rows = await self._db.read(
                "SELECT seq, stream, version, type, data, at, hash FROM events"
                " WHERE seq > %s ORDER BY seq LIMIT %s",
                (seq, limit),
            )
            return [ChainRow(int(r[0]), r[1], int(r[2]), r[3], r[4], r[5], r[6]) for r in rows]

        async def known() -> dict[str, int]:
            rows = await self._db.read("SELECT hash, seq FROM events WHERE hash IS NOT NULL")
            return {str(h): int(s) for h, s in rows}

        async def sealed() -> tuple[int, str]:
            rows = await self._db.read("SELECT name, value FROM log_meta")
            meta = {str(n): str(v) for n, v in rows}
            return int(meta.get(CHAIN_SEALED_UP_TO, 0)), meta.get(CHAIN_ADDED_AT, "")

        return await walk_chain(ChainReads(rows_after, known, sealed), anchor)


def _settle(done: asyncio.Future[list[RecordedEvent]], outcome: Outcome | BaseException) -> None:
    if done.done():
        return
    if isinstance(outcome, BaseException):
        if isinstance(outcome, psycopg.Error):  # not a conflict: worth a line in the log
            log.error("append failed: %s", outcome)
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
