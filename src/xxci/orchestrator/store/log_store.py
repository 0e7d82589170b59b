"""Job logs: chunks of output per job attempt, kept out of the event log.

Schema (in the same SQLite file as the events, through its own connections)::

    logs(run_id TEXT, job TEXT, attempt INTEGER, seq INTEGER,   -- seq >= 1, per attempt
         stream TEXT ("stdout" | "stderr" | "system"), data BLOB, at TEXT,
         PRIMARY KEY (run_id, job, attempt, seq))

Appends are idempotent: a chunk resent after a reconnect (same key) is stored once, the
first copy wins. Durability is ``synchronous=NORMAL``: in WAL mode a commit then costs
no fsync (only checkpoints do), a process crash loses nothing committed, and a power
loss can lose the last moments of output but never corrupts the file. Chunks arrive
far more often than events, so this is the right trade.

Writes are group-committed by a :class:`~xxci.orchestrator.store.log_writer.LogWriter`:
many jobs streaming at once cost one commit per burst, not per chunk.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite

from xxci.common.closing import AsyncClosing
from xxci.orchestrator.store._sqlite import Database, Synchronous, format_time, parse_time
from xxci.orchestrator.store.log_writer import ChunkId, LogWriter

__all__ = ["LogChunk", "LogStore"]

LOGS_SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    run_id  TEXT NOT NULL,
    job     TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    stream  TEXT NOT NULL,
    data    BLOB NOT NULL,
    at      TEXT NOT NULL,
    PRIMARY KEY (run_id, job, attempt, seq)
)
"""

_COLUMNS = "run_id, job, attempt, seq, stream, data, at"
_INSERT_ROWS = 1000  # chunks per INSERT: 7 parameters each

_Key = tuple[str, str, int]


@dataclass(frozen=True)
class LogChunk:
    """One piece of an attempt's output; ``seq`` orders chunks within the attempt."""

    run_id: str
    job: str
    attempt: int
    seq: int
    stream: str
    data: bytes
    at: datetime

    @property
    def key(self) -> _Key:
        return (self.run_id, self.job, self.attempt)

    @property
    def id(self) -> ChunkId:
        return (self.run_id, self.job, self.attempt, self.seq)


class LogStore(AsyncClosing):
    """Idempotent, followable storage of log chunks. Open with ``await LogStore.open(path)``."""

    def __init__(self, db: Database) -> None:
        """Use ``open``; this starts the writer task, so it needs a running loop."""
        self._db = db
        self._changed = asyncio.Condition()
        # Highest committed seq per attempt, kept only while someone follows it.
        self._followed: Counter[_Key] = Counter()
        self._latest: dict[_Key, int] = {}
        self._writer = LogWriter(str(db.path), self._insert, self._published)

    @classmethod
    async def open(cls, path: Path, *, synchronous: Synchronous = "NORMAL") -> LogStore:
        db = await Database.open(path, synchronous=synchronous)
        try:
            await db.complete(_create_schema(db))
        except BaseException:
            await db.close()
            raise
        return cls(db)

    async def close(self) -> None:
        """Store every append already queued, stop the writer and close. Idempotent."""
        await self._writer.close()
        await self._db.close()

    # --- writing ------------------------------------------------------------------

    async def append(
        self,
        run_id: str,
        job: str,
        attempt: int,
        seq: int,
        stream: str,
        data: bytes,
        at: datetime | None = None,
    ) -> bool:
        """Store one chunk; False if a chunk with this key was already stored."""
        chunk = LogChunk(run_id, job, attempt, seq, stream, data, at or datetime.now(UTC))
        return await self.append_many([chunk]) == 1

    async def append_many(self, chunks: Iterable[LogChunk]) -> int:
        """Store ``chunks`` (atomically, with whatever else is queued); returns how many
        were new. Cancelling the caller does not withdraw chunks already queued."""
        return await self._writer.append_many(chunks)

    async def _insert(self, chunks: Sequence[LogChunk]) -> set[ChunkId]:
        async with self._db.transaction() as conn:
            return await _insert(conn, chunks)

    async def _published(self, batch: Sequence[LogChunk]) -> None:
        woken = False
        for chunk in batch:
            if chunk.key in self._followed and chunk.seq > self._latest.get(chunk.key, 0):
                self._latest[chunk.key] = chunk.seq
                woken = True
        if woken:
            async with self._changed:
                self._changed.notify_all()

    # --- reading and following ------------------------------------------------------

    async def read(
        self, run_id: str, job: str, attempt: int, after_seq: int = 0, limit: int | None = None
    ) -> list[LogChunk]:
        """Chunks of the attempt with ``seq > after_seq`` in seq order, at most ``limit``."""
        sql = (
            f"SELECT {_COLUMNS} FROM logs WHERE run_id = ? AND job = ? AND attempt = ?"
            " AND seq > ? ORDER BY seq"
        )
        params: list[object] = [run_id, job, attempt, after_seq]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [
            LogChunk(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), parse_time(r[6]))
            for r in await self._db.read(sql, params)
        ]

    async def attempts(self, run_id: str, job: str) -> list[int]:
        """The attempts of a job that have any output, ascending."""
        rows = await self._db.read(
            "SELECT DISTINCT attempt FROM logs WHERE run_id = ? AND job = ? ORDER BY attempt",
            (run_id, job),
        )
        return [int(r[0]) for r in rows]

    async def last_seq(self, run_id: str, job: str, attempt: int) -> int:
        """The attempt's highest stored seq; 0 if it has no output."""
        rows = await self._db.read(
            "SELECT COALESCE(MAX(seq), 0) FROM logs WHERE run_id = ? AND job = ? AND attempt = ?",
            (run_id, job, attempt),
        )
        return int(rows[0][0])

    async def wait_for(
        self,
        run_id: str,
        job: str,
        attempt: int,
        after_seq: int,
        timeout: float,  # noqa: ASYNC109 -- a timeout is not an error here (see EventStore)
    ) -> bool:
        """Wait until the attempt has a chunk with ``seq > after_seq``; False after
        ``timeout`` s. Returns at once if it has one.

        Wakes on appends made through this store, with no polling (appends by another
        process are noticed when the timeout expires and the follower reads again).
        Chunks may arrive out of order: read after waking rather than assume seqs are
        contiguous.
        """
        key = (run_id, job, attempt)
        self._followed[key] += 1
        try:
            async with asyncio.timeout(timeout):
                # Registered first, then read: a chunk committed in between is either
                # visible to this read or recorded in _latest by _published.
                stored = await self.last_seq(run_id, job, attempt)
                self._latest[key] = max(self._latest.get(key, 0), stored)
                async with self._changed:
                    await self._changed.wait_for(lambda: self._latest.get(key, 0) > after_seq)
            return True
        except TimeoutError:
            return False
        finally:
            self._followed[key] -= 1
            if self._followed[key] <= 0:
                del self._followed[key]
                self._latest.pop(key, None)


async def _create_schema(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute_fetchall(LOGS_SCHEMA)


async def _insert(conn: aiosqlite.Connection, chunks: Sequence[LogChunk]) -> set[ChunkId]:
    """Insert ``chunks``, skipping keys already stored; returns the ids of the new ones."""
    new: set[ChunkId] = set()
    for start in range(0, len(chunks), _INSERT_ROWS):
        part = chunks[start : start + _INSERT_ROWS]
        params: list[object] = []
        for c in part:
            params += (
                c.run_id,
                c.job,
                c.attempt,
                c.seq,
                c.stream,
                bytes(c.data),
                format_time(c.at),
            )
        values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(part))
        rows = await conn.execute_fetchall(
            f"INSERT OR IGNORE INTO logs ({_COLUMNS}) VALUES {values} "
            "RETURNING run_id, job, attempt, seq",
            params,
        )
        new.update((str(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows)
    return new
