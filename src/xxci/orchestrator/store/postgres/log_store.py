"""Job logs on PostgreSQL: the ``logs`` table, with followers in every orchestrator.

The same contract as :class:`~xxci.orchestrator.store.log_store.LogStore`: idempotent
appends keyed by (run, job, attempt, seq), group-committed by one writer task, and
followable. A write ends with one ``pg_notify`` per attempt it touched (its highest
seq), so ``logs --follow`` through any orchestrator wakes as the output arrives.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from xxci.common.closing import AsyncClosing
from xxci.orchestrator.store._sqlite import format_time, parse_time
from xxci.orchestrator.store.log_store import LogChunk
from xxci.orchestrator.store.log_writer import ChunkId, LogWriter
from xxci.orchestrator.store.postgres._pg import Listener, PgDatabase
from xxci.orchestrator.store.postgres.event_store import create_schema

__all__ = ["LOGS_CHANNEL", "PgLogStore"]

LOGS_CHANNEL = "xxci_logs"
_SEP = "\x1f"
_COLUMNS = "run_id, job, attempt, seq, stream, data, at"

_Key = tuple[str, str, int]


class PgLogStore(AsyncClosing):
    """Idempotent, followable log chunks. Open with ``await PgLogStore.open(url)``."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db
        self._changed = asyncio.Condition()
        self._followed: Counter[_Key] = Counter()
        self._latest: dict[_Key, int] = {}
        self._writer = LogWriter(db.name, self._insert, self._stored)
        self._listener = Listener(db.url, [LOGS_CHANNEL], self._notified, self._wake_all)

    @classmethod
    async def open(cls, url: str) -> PgLogStore:
        db = await PgDatabase.open(url)
        try:
            await create_schema(db)
        except BaseException:
            await db.close()
            raise
        store = cls(db)
        try:
            await store._listener.start()
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        await self._listener.close()
        await self._writer.close()
        await self._db.close()

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
        chunk = LogChunk(run_id, job, attempt, seq, stream, data, at or datetime.now(UTC))
        return await self.append_many([chunk]) == 1

    async def append_many(self, chunks: Iterable[LogChunk]) -> int:
        return await self._writer.append_many(chunks)

    async def _stored(self, chunks: Sequence[LogChunk]) -> None:
        await self._published({c.key: c.seq for c in sorted(chunks, key=lambda c: c.seq)})

    async def _insert(self, chunks: Sequence[LogChunk]) -> set[ChunkId]:
        highest: dict[_Key, int] = {}
        for c in chunks:
            highest[c.key] = max(highest.get(c.key, 0), c.seq)
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                f"INSERT INTO logs ({_COLUMNS})"
                " SELECT * FROM unnest(%s::text[], %s::text[], %s::int[], %s::int[],"
                " %s::text[], %s::bytea[], %s::text[])"
                " ON CONFLICT DO NOTHING RETURNING run_id, job, attempt, seq".encode(),
                (
                    [c.run_id for c in chunks],
                    [c.job for c in chunks],
                    [c.attempt for c in chunks],
                    [c.seq for c in chunks],
                    [c.stream for c in chunks],
                    [bytes(c.data) for c in chunks],
                    [format_time(c.at) for c in chunks],
                ),
            )
            new = {(str(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in await cur.fetchall()}
            for (run_id, job, attempt), seq in highest.items():
                payload = _SEP.join((run_id, job, str(attempt), str(seq)))
                await conn.execute(b"SELECT pg_notify(%s, %s)", (LOGS_CHANNEL, payload))
        return new

    async def _notified(self, _channel: str, payload: str) -> None:
        parts = payload.split(_SEP)
        if len(parts) == 4 and parts[2].isdigit() and parts[3].isdigit():
            await self._published({(parts[0], parts[1], int(parts[2])): int(parts[3])})

    async def _wake_all(self) -> None:
        async with self._changed:
            for key in self._followed:
                self._latest[key] = max(self._latest.get(key, 0), await self.last_seq(*key))
            self._changed.notify_all()

    async def _published(self, highest: dict[_Key, int]) -> None:
        woken = False
        for key, seq in highest.items():
            if key in self._followed and seq > self._latest.get(key, 0):
                self._latest[key] = seq
                woken = True
        if woken:
            async with self._changed:
                self._changed.notify_all()

    async def read(
        self, run_id: str, job: str, attempt: int, after_seq: int = 0, limit: int | None = None
    ) -> list[LogChunk]:
        sql = (
            f"SELECT {_COLUMNS} FROM logs WHERE run_id = %s AND job = %s AND attempt = %s"
            " AND seq > %s ORDER BY seq"
        )
        params: list[object] = [run_id, job, attempt, after_seq]
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        return [
            LogChunk(r[0], r[1], int(r[2]), int(r[3]), r[4], bytes(r[5]), parse_time(r[6]))
            for r in await self._db.read(sql, params)
        ]

    async def attempts(self, run_id: str, job: str) -> list[int]:
        rows = await self._db.read(
            "SELECT DISTINCT attempt FROM logs WHERE run_id = %s AND job = %s ORDER BY attempt",
            (run_id, job),
        )
        return [int(r[0]) for r in rows]

    async def last_seq(self, run_id: str, job: str, attempt: int) -> int:
        rows = await self._db.read(
            "SELECT COALESCE(MAX(seq), 0) FROM logs"
            " WHERE run_id = %s AND job = %s AND attempt = %s",
            (run_id, job, attempt),
        )
        return int(rows[0][0])

    async def wait_for(
        self,
        run_id: str,
        job: str,
        attempt: int,
        after_seq: int,
        timeout: float,  # noqa: ASYNC109
    ) -> bool:
        """Wakes on chunks stored by any orchestrator on the database."""
        key = (run_id, job, attempt)
        self._followed[key] += 1
        try:
            async with asyncio.timeout(timeout):
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
