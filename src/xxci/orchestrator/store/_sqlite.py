"""One SQLite file seen through two aiosqlite connections (and a third, for batches).

The *writer* runs every write as ``BEGIN IMMEDIATE ... COMMIT``: the write lock is
taken up front, so a transaction never has to upgrade a read lock and the checks it
makes (current stream version, next run number) still hold when it commits, even
against another process writing the same file. An ``asyncio.Lock`` serialises the
transactions of this process on the one connection.

:meth:`Database.write` runs a whole transaction as one plain function on a blocking
``sqlite3`` connection in a thread of its own: a group commit of many appends costs one
hop to that thread instead of one per statement. It takes the same lock, so the
transactions of this process still run one at a time.

The *reader* is a separate ``query_only`` connection. In WAL mode it reads the last
committed snapshot without waiting for the writer, and it can never observe a
transaction that is still open (and might roll back) on the writer.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite

__all__ = ["Database", "Synchronous", "format_time", "parse_time"]

T = TypeVar("T")

Synchronous = Literal["NORMAL", "FULL"]

# A writer waiting for another process's write lock blocks its own worker thread, never
# the event loop; write transactions are short, so this only bites on a stuck writer.
_BUSY_TIMEOUT_MS = 10_000


def format_time(at: datetime) -> str:
    """ISO-8601 in UTC with microseconds, e.g. ``2025-01-31T12:00:00.000000+00:00``."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"timestamp must be timezone-aware: {at!r}")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


class Database:
    """A writer and a reader connection to one SQLite file in WAL mode."""

    def __init__(
        self,
        path: Path,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        synchronous: Synchronous = "FULL",
    ):
        self.path = path
        self._writer = writer
        self._reader = reader
        self._synchronous = synchronous
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        # The blocking connection of write(), opened on first use in its own thread.
        self._batch_thread: ThreadPoolExecutor | None = None
        self._batch_conn: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, path: Path, *, synchronous: Synchronous) -> Database:
        """Open (creating if needed) ``path`` with WAL and the given ``synchronous``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await aiosqlite.connect(path, isolation_level=None)
        try:
            await writer.execute_fetchall(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            rows = list(await writer.execute_fetchall("PRAGMA journal_mode = WAL"))
            if str(rows[0][0]).lower() != "wal":
                raise RuntimeError(f"{path}: SQLite refused WAL mode (got {rows[0][0]!r})")
            await writer.execute_fetchall(f"PRAGMA synchronous = {synchronous}")
            reader = await aiosqlite.connect(path, isolation_level=None)
        except BaseException:
            await writer.close()
            raise
        try:
            await reader.execute_fetchall(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            await reader.execute_fetchall("PRAGMA query_only = ON")
        except BaseException:
            await reader.close()
            await writer.close()
            raise
        return cls(path, writer, reader, synchronous)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """``BEGIN IMMEDIATE`` on the writer, ``COMMIT`` on exit, ``ROLLBACK`` on error.

        Transactions of this Database run one at a time. Use only the yielded
        connection inside, and only through ``execute_fetchall`` (no open cursors).
        """
        if self._closed:
            raise RuntimeError(f"{self.path}: database is closed")
        async with self._lock:
            conn = self._writer
            await conn.execute_fetchall("BEGIN IMMEDIATE")
            try:
                yield conn
                await conn.execute_fetchall("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    await conn.execute_fetchall("ROLLBACK")
                raise

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` inside ``BEGIN IMMEDIATE ... COMMIT`` (``ROLLBACK`` if it
        raises) on the blocking connection, in its thread, and return its result.

        ``fn`` must only use ``conn`` and must not block on anything but SQLite. The
        write finishes even if the caller is cancelled (see :meth:`complete`).
        """
        if self._closed:
            raise RuntimeError(f"{self.path}: database is closed")
        return await self.complete(self._write(fn))

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        async with self._lock:
            if self._batch_thread is None:
                self._batch_thread = ThreadPoolExecutor(1, thread_name_prefix="xxci-sqlite")
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._batch_thread, self._transact, fn)

    def _transact(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """In the batch thread."""
        conn = self._batch_conn
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            self._batch_conn = conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result

    def _close_batch_conn(self) -> None:
        if self._batch_conn is not None:
            self._batch_conn.close()
            self._batch_conn = None

    async def read(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        """Run one query on the reader: a consistent snapshot of committed data."""
        return list(await self._reader.execute_fetchall(sql, params))

    async def complete(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` (a write) to completion even if the caller is cancelled.

        A write abandoned halfway could leave the outcome unknown to this process
        (committed but followers never told); instead it finishes in a task this
        Database owns, and ``close()`` waits for it. The caller still sees its
        CancelledError.
        """
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._forget)
        return await asyncio.shield(task)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: an abandoned write's error is not "lost"

    async def close(self) -> None:
        """Wait for pending writes, then close both connections. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            if self._batch_thread is not None:
                await asyncio.get_running_loop().run_in_executor(
                    self._batch_thread, self._close_batch_conn
                )
                self._batch_thread.shutdown()
            await self._reader.close()
        finally:
            await self._writer.close()
