"""The SQLite event log: appends with optimistic concurrency per stream, and reads.

Concurrency is optimistic per stream: ``append(stream, expected_version, ...)`` checks
the stream's version inside ``BEGIN IMMEDIATE`` and raises ConflictError when it moved;
the unique index backs the check up (a stale insert fails with IntegrityError, which is
translated into the same ConflictError). Because writers are serialised, ``seq`` is
also commit order: a follower that has read up to ``seq`` N never misses an event
committed later with a smaller seq.

Durability: ``synchronous=FULL`` by default. An append is the commit point of a
decision the orchestrator then acts on (a run number returned to the CLI, a job sent to
a worker), so it must survive power loss, not only a process crash.

A ``RunCreated`` is indexed (``run_index.py``) in the transaction that appends it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import aiosqlite

from xxci.common.errors import ConflictError
from xxci.common.events import (
    Event,
    RecordedEvent,
    RunCreated,
    encode_event,
    run_stream,
)
from xxci.orchestrator.store._event_rows import EVENT_COLUMNS, decode_row
from xxci.orchestrator.store._sqlite import Database, format_time, parse_time
from xxci.orchestrator.store.run_index import (
    insert_runs,
    pipeline_name,
    record_finished,
    row_from_event,
)

__all__ = ["SqliteEventLog"]

# SQLite allows 32766 bound parameters per statement; 5 per row.
_ROWS_PER_INSERT = 1000
_STREAMS_PER_READ = 500

Published = Callable[[int], Awaitable[None]]
"""Told the highest seq of every committed append (the change feed's ``published``)."""


class SqliteEventLog:
    """The ``events`` table of one SQLite file (see the module docstring)."""

    def __init__(self, db: Database, published: Published) -> None:
        self._db = db
        self._published = published

    async def append(
        self,
        stream: str,
        expected_version: int,
        events: Sequence[Event],
        at: datetime | None = None,
    ) -> list[RecordedEvent]:
        """Append ``events`` as versions ``expected_version + 1 ...`` in one transaction.

        Raises ConflictError if the stream is not at ``expected_version`` (0: the
        stream must not exist yet) or a ``RunCreated`` reuses a run number; nothing is
        written then. ``at`` (timezone-aware, default now) stamps every event. A
        ``RunCreated`` must be the first event of ``run:<run_id>``; it is indexed in
        the same transaction. Appending no events does nothing and returns ``[]``.
        """
        if expected_version < 0:
            raise ValueError(f"expected_version must be >= 0, got {expected_version}")
        if not events:
            return []
        for index, event in enumerate(events):
            if isinstance(event, RunCreated):
                _check_run_created(stream, expected_version + index, event)
        at_text = format_time(at or datetime.now(UTC))
        return await self._db.complete(self._append(stream, expected_version, events, at_text))

    async def append_run_created(
        self,
        run_id: str,
        make_event: Callable[[int], RunCreated],
        at: datetime | None = None,
    ) -> list[RecordedEvent]:
        """Append ``make_event(number)`` as the first event of ``run:<run_id>``, with
        ``number`` the next run number of the event's pipeline.

        Allocation and append are one transaction, so concurrent submissions of one
        pipeline (from any process) get distinct, gapless numbers. ``make_event`` must
        be a pure constructor: it is also called once beforehand (with 0) to learn the
        pipeline name. ConflictError if the run's stream already exists.
        """
        pipeline = pipeline_name(make_event(0))
        at_text = format_time(at or datetime.now(UTC))
        return await self._db.complete(
            self._append_run_created(run_id, pipeline, make_event, at_text)
        )

    async def _append(
        self, stream: str, expected_version: int, events: Sequence[Event], at_text: str
    ) -> list[RecordedEvent]:
        async with self._db.transaction() as conn:
            recorded = await _insert(conn, stream, expected_version, events, at_text)
        await self._published(recorded[-1].seq)
        return recorded

    async def _append_run_created(
        self, run_id: str, pipeline: str, make_event: Callable[[int], RunCreated], at_text: str
    ) -> list[RecordedEvent]:
        async with self._db.transaction() as conn:
            rows = await conn.execute_fetchall(
                "SELECT COALESCE(MAX(number), 0) + 1 FROM runs WHERE pipeline = ?", (pipeline,)
            )
            number = int(next(iter(rows))[0])
            event = make_event(number)
            if (event.run_id, pipeline_name(event), event.number) != (run_id, pipeline, number):
                raise ValueError(
                    f"make_event({number}) made run {event.run_id!r} of "
                    f"{pipeline_name(event)!r} #{event.number}, expected {run_id!r} of "
                    f"{pipeline!r} #{number}"
                )
            recorded = await _insert(conn, run_stream(run_id), 0, [event], at_text)
        await self._published(recorded[-1].seq)
        return recorded

    async def read_stream(
        self, stream: str, after_version: int = 0, up_to_seq: int | None = None
    ) -> list[RecordedEvent]:
        """Events of ``stream`` with version > ``after_version`` (and seq <= ``up_to_seq``)."""
        sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE stream = ? AND version > ?"
        params: list[object] = [stream, after_version]
        if up_to_seq is not None:
            sql += " AND seq <= ?"
            params.append(up_to_seq)
        rows = await self._db.read(sql + " ORDER BY version", params)
        return [decode_row(row) for row in rows]

    async def read_all(
        self,
        since_seq: int = 0,
        limit: int | None = None,
        up_to_seq: int | None = None,
        stream_prefix: str | None = None,
    ) -> list[RecordedEvent]:
        """Events with ``since_seq < seq <= up_to_seq`` in seq order, at most ``limit``.

        ``stream_prefix`` (e.g. ``"run:"``) keeps only the streams that start with it.
        """
        clauses = ["seq > ?"]
        params: list[object] = [since_seq]
        if up_to_seq is not None:
            clauses.append("seq <= ?")
            params.append(up_to_seq)
        if stream_prefix:
            # Not indexable on purpose: walking seq order keeps LIMIT cheap for followers.
            clauses.append("substr(stream, 1, ?) = ?")
            params += [len(stream_prefix), stream_prefix]
        sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE {' AND '.join(clauses)} ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [decode_row(row) for row in await self._db.read(sql, params)]

    async def read_streams(
        self, streams: Sequence[str], up_to_seq: int | None = None
    ) -> dict[str, list[RecordedEvent]]:
        """Every event of each of ``streams`` (with seq <= ``up_to_seq``), by stream, in
        version order: the bulk read of many runs, a few queries instead of one each."""
        result: dict[str, list[RecordedEvent]] = {stream: [] for stream in streams}
        names = list(result)
        for start in range(0, len(names), _STREAMS_PER_READ):
            part = names[start : start + _STREAMS_PER_READ]
            sql = (
                f"SELECT {EVENT_COLUMNS} FROM events WHERE stream IN ({', '.join('?' * len(part))})"
            )
            params: list[object] = list(part)
            if up_to_seq is not None:
                sql += " AND seq <= ?"
                params.append(up_to_seq)
            for row in await self._db.read(sql + " ORDER BY stream, version", params):
                rec = decode_row(row)
                result[rec.stream].append(rec)
        return result

    async def stream_version(self, stream: str) -> int:
        """The stream's last version; 0 if it has no events."""
        rows = await self._db.read(
            "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = ?", (stream,)
        )
        return int(rows[0][0])

    async def last_seq(self) -> int:
        """The seq of the newest event; 0 if the log is empty."""
        rows = await self._db.read("SELECT COALESCE(MAX(seq), 0) FROM events")
        return int(rows[0][0])

    async def streams(self, prefix: str = "") -> list[str]:
        """Names of the streams starting with ``prefix`` (e.g. ``"run:"``), sorted."""
        low, high = _prefix_bounds(prefix)
        sql = "SELECT DISTINCT stream FROM events WHERE stream >= ?"
        params: list[object] = [low]
        if high is not None:
            sql += " AND stream < ?"
            params.append(high)
        rows = await self._db.read(sql + " ORDER BY stream", params)
        return [str(row[0]) for row in rows if str(row[0]).startswith(prefix)]


def _check_run_created(stream: str, version: int, event: RunCreated) -> None:
    if version != 0 or stream != run_stream(event.run_id):
        raise ValueError(
            f"RunCreated must be the first event of {run_stream(event.run_id)!r}, "
            f"not version {version + 1} of {stream!r}"
        )
    pipeline_name(event)


async def _insert(
    conn: aiosqlite.Connection,
    stream: str,
    expected_version: int,
    events: Sequence[Event],
    at_text: str,
) -> list[RecordedEvent]:
    """Check the stream version and insert ``events`` (and run index rows)."""
    rows = await conn.execute_fetchall(
        "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = ?", (stream,)
    )
    current = int(next(iter(rows))[0])
    if current != expected_version:
        raise ConflictError(
            f"stream {stream!r} is at version {current}, not {expected_version}: re-read and retry"
        )
    at = parse_time(at_text)
    recorded: list[RecordedEvent] = []
    try:
        for start in range(0, len(events), _ROWS_PER_INSERT):
            batch = events[start : start + _ROWS_PER_INSERT]
            first = expected_version + start + 1
            params: list[object] = []
            for version, event in enumerate(batch, start=first):
                type_name, data = encode_event(event)
                params += (stream, version, type_name, data, at_text)
            values = ", ".join(["(?, ?, ?, ?, ?)"] * len(batch))
            returned = await conn.execute_fetchall(
                f"INSERT INTO events (stream, version, type, data, at) VALUES {values} "
                "RETURNING version, seq",
                params,
            )
            seqs = {int(version): int(seq) for version, seq in returned}
            recorded += [
                RecordedEvent(seq=seqs[v], stream=stream, version=v, at=at, event=e)
                for v, e in enumerate(batch, start=first)
            ]
        await insert_runs(
            conn, [row_from_event(r) for r in recorded if isinstance(r.event, RunCreated)]
        )
        await record_finished(conn, recorded)
    except sqlite3.IntegrityError as exc:
        raise ConflictError(f"stale append to stream {stream!r}: {exc}") from exc
    return recorded


def _prefix_bounds(prefix: str) -> tuple[str, str | None]:
    """``[low, high)`` holding exactly the strings that start with ``prefix`` (in
    SQLite's binary collation, i.e. code point order); ``high`` None: unbounded."""
    if not prefix:
        return "", None
    last = ord(prefix[-1])
    if last >= 0x10FFFF or 0xD7FF <= last <= 0xDFFF:
        return prefix, None  # no next code point to bound with; filtered in Python
    return prefix, prefix[:-1] + chr(last + 1)
