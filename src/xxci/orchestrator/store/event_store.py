"""The event log: every state change of xxci, appended to one SQLite file.

Schema (created if missing, so a file written by an older xxci opens as is)::

    events(seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- global order, never reused
           stream TEXT, version INTEGER,             -- per-stream position, 1-based
           type TEXT, data TEXT (JSON), at TEXT (ISO-8601 UTC, microseconds),
           UNIQUE (stream, version))
    runs(...)                                        -- see run_index.py

The ``UNIQUE (stream, version)`` index is also the stream index: every stream lookup
(read, current version, stream names) is a range scan of it, so there is no second one
to slow appends down.

Concurrency is optimistic per stream: ``append(stream, expected_version, ...)`` checks
the stream's version inside ``BEGIN IMMEDIATE`` and raises ConflictError when it moved;
the unique index backs the check up (a stale insert fails with IntegrityError, which is
translated into the same ConflictError). Because writers are serialised, ``seq`` is
also commit order: a follower that has read up to ``seq`` N never misses an event
committed later with a smaller seq.

Durability: ``synchronous=FULL`` by default. An append is the commit point of a
decision the orchestrator then acts on (a run number returned to the CLI, a job sent to
a worker), so it must survive power loss, not only a process crash; appends are few
per job, so one fsync each is affordable (measure with benchmarks/event_store_append.py).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite

from xxci.common.closing import AsyncClosing
from xxci.common.errors import ConflictError, NotFoundError
from xxci.common.events import (
    Event,
    RecordedEvent,
    RunCreated,
    decode_event,
    encode_event,
    run_stream,
)
from xxci.orchestrator.store._sqlite import Database, Synchronous, format_time, parse_time
from xxci.orchestrator.store.run_index import (
    COLUMNS as RUN_COLUMNS,
)
from xxci.orchestrator.store.run_index import (
    RUNS_SCHEMA,
    RunRow,
    insert_runs,
    pipeline_name,
    row_from_event,
)

__all__ = ["EventStore"]

EVENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    stream  TEXT NOT NULL,
    version INTEGER NOT NULL,
    type    TEXT NOT NULL,
    data    TEXT NOT NULL,
    at      TEXT NOT NULL,
    UNIQUE (stream, version)
);
"""

_EVENT_COLUMNS = "seq, stream, version, type, data, at"
# SQLite allows 32766 bound parameters per statement; 5 per row.
_ROWS_PER_INSERT = 1000
_STREAMS_PER_READ = 500


class EventStore(AsyncClosing):
    """Append-only event log with optimistic concurrency per stream.

    Open with ``await EventStore.open(path)``; close with ``await store.close()`` (or
    ``async with``). All methods are coroutines; none blocks the event loop.
    """

    def __init__(self, db: Database, last_seq: int) -> None:
        self._db = db
        self._last_seq = last_seq
        self._appended = asyncio.Condition()

    @classmethod
    async def open(cls, path: Path, *, synchronous: Synchronous = "FULL") -> EventStore:
        """Open (or create) the log at ``path``; rebuild the run index if it was missing."""
        db = await Database.open(path, synchronous=synchronous)
        try:
            await db.complete(_create_schema(db))
            rows = await db.read("SELECT COALESCE(MAX(seq), 0) FROM events")
        except BaseException:
            await db.close()
            raise
        return cls(db, int(rows[0][0]))

    async def close(self) -> None:
        """Finish pending appends and close the file. Idempotent."""
        await self._db.close()

    # --- writing ------------------------------------------------------------------

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

    async def rebuild_run_index(self) -> int:
        """Recompute the run index from the ``RunCreated`` events; returns its row count."""
        return await self._db.complete(self._rebuild_run_index())

    async def _append(
        self, stream: str, expected_version: int, events: Sequence[Event], at_text: str
    ) -> list[RecordedEvent]:
        async with self._db.transaction() as conn:
            recorded = await _insert(conn, stream, expected_version, events, at_text)
        await self._published(recorded)
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
        await self._published(recorded)
        return recorded

    async def _rebuild_run_index(self) -> int:
        async with self._db.transaction() as conn:
            return await _rebuild_runs(conn)

    async def _published(self, recorded: Sequence[RecordedEvent]) -> None:
        async with self._appended:
            self._last_seq = max(self._last_seq, max(r.seq for r in recorded))
            self._appended.notify_all()

    # --- following ----------------------------------------------------------------

    async def wait_for(self, after_seq: int, timeout: float) -> bool:  # noqa: ASYNC109 -- see below
        """Wait until an event with ``seq > after_seq`` exists; False after ``timeout`` s.

        Returns at once if one does. Wakes on appends made through this store, with no
        polling; appends by another process are noticed when the timeout expires and
        the follower reads again. The timeout is a parameter (not the caller's
        ``asyncio.timeout``) because a follower wants to wake regularly anyway, to
        check its client is still there, and a timeout here is not an error.
        Follower loop: ``read_all(since_seq=n, limit=...)``; if empty, ``wait_for(n, t)``.
        """
        async with self._appended:
            try:
                async with asyncio.timeout(timeout):
                    await self._appended.wait_for(lambda: self._last_seq > after_seq)
            except TimeoutError:
                return False
        return True

    # --- reading ------------------------------------------------------------------

    async def read_stream(
        self, stream: str, after_version: int = 0, up_to_seq: int | None = None
    ) -> list[RecordedEvent]:
        """Events of ``stream`` with version > ``after_version`` (and seq <= ``up_to_seq``)."""
        sql = f"SELECT {_EVENT_COLUMNS} FROM events WHERE stream = ? AND version > ?"
        params: list[object] = [stream, after_version]
        if up_to_seq is not None:
            sql += " AND seq <= ?"
            params.append(up_to_seq)
        rows = await self._db.read(sql + " ORDER BY version", params)
        return [_decode(row) for row in rows]

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
        sql = f"SELECT {_EVENT_COLUMNS} FROM events WHERE {' AND '.join(clauses)} ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_decode(row) for row in await self._db.read(sql, params)]

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
                f"SELECT {_EVENT_COLUMNS} FROM events"
                f" WHERE stream IN ({', '.join('?' * len(part))})"
            )
            params: list[object] = list(part)
            if up_to_seq is not None:
                sql += " AND seq <= ?"
                params.append(up_to_seq)
            for row in await self._db.read(sql + " ORDER BY stream, version", params):
                rec = _decode(row)
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

    # --- run index ----------------------------------------------------------------

    async def next_run_number(self, pipeline: str) -> int:
        """The number the next run of ``pipeline`` would get (informational: use
        ``append_run_created`` to actually take it)."""
        rows = await self._db.read(
            "SELECT COALESCE(MAX(number), 0) + 1 FROM runs WHERE pipeline = ?", (pipeline,)
        )
        return int(rows[0][0])

    async def find_runs(
        self,
        repo: str | None = None,
        pipeline: str | None = None,
        number: int | None = None,
        limit: int | None = None,
    ) -> list[RunRow]:
        """Runs matching every given filter, oldest first; with ``limit``, the newest
        ``limit`` of them (still oldest first)."""
        clauses: list[str] = []
        params: list[object] = []
        for column, value in (("repo", repo), ("pipeline", pipeline), ("number", number)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT {RUN_COLUMNS} FROM runs {where} ORDER BY created_seq DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = await self._db.read(sql, params)
        return [RunRow.from_db(row) for row in reversed(rows)]

    async def pipelines(self, repo: str | None = None) -> list[str]:
        """Names of the pipelines that have runs (of ``repo``), sorted."""
        sql, params = "SELECT DISTINCT pipeline FROM runs", []
        if repo is not None:
            sql, params = sql + " WHERE repo = ?", [repo]
        return [str(row[0]) for row in await self._db.read(sql + " ORDER BY pipeline", params)]

    async def get_run(self, run_id: str) -> RunRow:
        """The index row of ``run_id``; NotFoundError if there is no such run."""
        rows = await self._db.read(f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            raise NotFoundError(f"no run {run_id!r}")
        return RunRow.from_db(rows[0])


# --- helpers ----------------------------------------------------------------------


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
    except sqlite3.IntegrityError as exc:
        raise ConflictError(f"stale append to stream {stream!r}: {exc}") from exc
    return recorded


async def _create_schema(db: Database) -> None:
    async with db.transaction() as conn:
        rows = await conn.execute_fetchall(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'"
        )
        had_index = bool(list(rows))
        for statement in _statements(EVENTS_SCHEMA + RUNS_SCHEMA):
            await conn.execute_fetchall(statement)
        if not had_index:  # a log written before the run index existed
            await _rebuild_runs(conn)


async def _rebuild_runs(conn: aiosqlite.Connection) -> int:
    await conn.execute_fetchall("DELETE FROM runs")
    rows = await conn.execute_fetchall(
        f"SELECT {_EVENT_COLUMNS} FROM events WHERE type = ? ORDER BY seq", (RunCreated.type,)
    )
    index = [row_from_event(_decode(row)) for row in rows]
    await insert_runs(conn, index)
    return len(index)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _decode(row: sqlite3.Row) -> RecordedEvent:
    seq, stream, version, type_name, data, at = row
    return RecordedEvent(
        seq=seq,
        stream=stream,
        version=version,
        at=parse_time(at),
        event=decode_event(type_name, data),
    )


def _prefix_bounds(prefix: str) -> tuple[str, str | None]:
    """``[low, high)`` holding exactly the strings that start with ``prefix`` (in
    SQLite's binary collation, i.e. code point order); ``high`` None: unbounded."""
    if not prefix:
        return "", None
    last = ord(prefix[-1])
    if last >= 0x10FFFF or 0xD7FF <= last <= 0xDFFF:
        return prefix, None  # no next code point to bound with; filtered in Python
    return prefix, prefix[:-1] + chr(last + 1)
