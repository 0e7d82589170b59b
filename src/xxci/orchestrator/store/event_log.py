"""The SQLite event log: appends with optimistic concurrency per stream, and reads.

Concurrency is optimistic per stream: ``append(stream, expected_version, ...)`` checks
the stream's version inside ``BEGIN IMMEDIATE`` and raises ConflictError when it moved;
the unique index backs the check up (a stale insert fails with IntegrityError, which is
translated into the same ConflictError). Because writers are serialised, ``seq`` is
also commit order: a follower that has read up to ``seq`` N never misses an event
committed later with a smaller seq.

Durability: ``synchronous=FULL`` by default. An append is the commit point of a
decision the orchestrator then acts on (a run number returned to the CLI, a job sent to
a worker), so it must survive power loss, not only a process crash. Concurrent appends
share one transaction (group commit), so that fsync is paid once per group.

A ``RunCreated`` is indexed (``run_index.py``) in the transaction that appends it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from xxci.common.events import Event, RecordedEvent, RunCreated, run_stream
from xxci.orchestrator.store._event_rows import EVENT_COLUMNS, decode_rows, gc_paused
from xxci.orchestrator.store._sqlite import Database, format_time
from xxci.orchestrator.store.chain import Anchor, ChainReport
from xxci.orchestrator.store.event_writer import Append, Outcome, write_group
from xxci.orchestrator.store.run_index import pipeline_name
from xxci.orchestrator.store.sqlite_chain import check_chain

__all__ = ["SqliteEventLog"]

_STREAMS_PER_READ = 500

_QUEUE_SIZE = 10_000
_GROUP_SIZE = 1_000  # appends per transaction at most

Published = Callable[[int], Awaitable[None]]
"""Told the highest seq of every committed append (the change feed's ``published``)."""


class SqliteEventLog:
    """The ``events`` table of one SQLite file (see the module docstring).

    Appends wait in a bounded queue; one writer task (started here, so construct this
    in a running loop) commits everything queued so far as one transaction: with
    ``synchronous=FULL`` that is one fsync for the whole group, so durable throughput
    grows with the number of concurrent appenders instead of staying at one commit
    per append. Each append still succeeds or fails on its own (``event_writer.py``).
    """

    def __init__(self, db: Database, published: Published) -> None:
        self._db = db
        self._published = published
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue(_QUEUE_SIZE)
        self._closing = False
        self._writer = asyncio.create_task(self._write_forever(), name=f"event writer {db.path}")

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
        """Append ``events`` as versions ``expected_version + 1 ...``, atomically.

        Raises ConflictError if the stream is not at ``expected_version`` (0: the
        stream must not exist yet) or a ``RunCreated`` reuses a run number; nothing is
        written then. ``at`` (timezone-aware, default now) stamps every event. A
        ``RunCreated`` must be the first event of ``run:<run_id>``; it is indexed in
        the same transaction. Appending no events does nothing and returns ``[]``.
        Cancelling the caller stops its wait, not the append.
        """
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
        """Append ``make_event(number)`` as the first event of ``run:<run_id>``, with
        ``number`` the next run number of the event's pipeline.

        Allocation and append are one transaction, so concurrent submissions of one
        pipeline (from any process) get distinct, gapless numbers. ``make_event`` must
        be a pure constructor: it is also called once beforehand (with 0) to learn the
        pipeline name. ConflictError if the run's stream already exists.
        """
        pipeline = pipeline_name(make_event(0))
        at_text = format_time(at or datetime.now(UTC))
        return await self._submit(Append(run_stream(run_id), 0, [], at_text, make_event, pipeline))

    async def _submit(self, append: Append) -> list[RecordedEvent]:
        if self._closing:
            raise RuntimeError(f"{self._db.path}: event log is closed")
        pending = _Pending(append, asyncio.get_running_loop().create_future())
        await self._queue.put(pending)
        return await asyncio.shield(pending.done)

    async def _write_forever(self) -> None:
        """The writer task: take what is queued, commit it as one group, repeat."""
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
        appends = [pending.append for pending in group]
        try:
            outcomes = await self._db.write(lambda conn: write_group(conn, appends))
        except Exception as exc:  # the transaction failed: every append of it did
            for pending in group:
                _settle(pending.done, exc)
            return
        last_seq = 0
        for pending, outcome in zip(group, outcomes, strict=True):
            _settle(pending.done, outcome)
            if not isinstance(outcome, Exception) and outcome:
                last_seq = max(last_seq, outcome[-1].seq)
        if last_seq:
            await self._published(last_seq)

    async def check_chain(self, anchor: Anchor | None = None) -> ChainReport:
        """Check the hash chain of the whole log (``chain.py``) and, if given, that
        ``anchor`` (an event's seq and hash, kept elsewhere) still holds."""
        return await check_chain(self._db, anchor)

    async def read_stream(
        self, stream: str, after_version: int = 0, up_to_seq: int | None = None
    ) -> list[RecordedEvent]:
        """Events of ``stream`` with version > ``after_version`` (and seq <= ``up_to_seq``)."""
        sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE stream = ? AND version > ?"
        params: list[object] = [stream, after_version]
        if up_to_seq is not None:
            sql += " AND seq <= ?"
            params.append(up_to_seq)
        with gc_paused():
            return decode_rows(await self._db.read(sql + " ORDER BY version", params))

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
        with gc_paused():
            return decode_rows(await self._db.read(sql, params))

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
            with gc_paused():
                rows = await self._db.read(sql + " ORDER BY stream, version", params)
                for rec in decode_rows(rows):
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


def _prefix_bounds(prefix: str) -> tuple[str, str | None]:
    """``[low, high)`` holding exactly the strings that start with ``prefix`` (in
    SQLite's binary collation, i.e. code point order); ``high`` None: unbounded."""
    if not prefix:
        return "", None
    last = ord(prefix[-1])
    if last >= 0x10FFFF or 0xD7FF <= last <= 0xDFFF:
        return prefix, None  # no next code point to bound with; filtered in Python
    return prefix, prefix[:-1] + chr(last + 1)


@dataclass
class _Pending:
    """One append waiting for the writer, and where its outcome goes."""

    append: Append
    done: asyncio.Future[list[RecordedEvent]]


def _settle(done: asyncio.Future[list[RecordedEvent]], outcome: Outcome) -> None:
    if done.done():
        return
    if isinstance(outcome, Exception):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
