"""One PostgreSQL database seen through a small pool of psycopg connections, and a
listener for its notifications.

Reads run on pooled connections in autocommit mode: each statement sees the data
committed when it started, never a transaction still open elsewhere. Writes run in
:meth:`PgDatabase.transaction` (``BEGIN ... COMMIT``, ``ROLLBACK`` on error), and a
write whose caller is cancelled still finishes (:meth:`PgDatabase.complete`), as on
SQLite, so its outcome is never unknown to this process.

:class:`Listener` holds one more connection that ``LISTEN``\\ s on channels and calls
back on every ``NOTIFY``. PostgreSQL delivers a notification sent inside a transaction
when (and only if) it commits, in commit order. A listener that loses its connection
reconnects and calls ``on_reconnect``, so whoever relies on it re-reads what it may
have missed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool

__all__ = ["Listener", "PgDatabase", "redact"]

T = TypeVar("T")

log = logging.getLogger("xxci.store")

Row = tuple[Any, ...]


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://..."
    host, port, db = info.get("host", ""), info.get("port", ""), info.get("dbname", "")
    return f"postgresql://{host}{':' + str(port) if port else ''}/{db}"


class PgDatabase:
    """A pool of connections to one database (see the module docstring)."""

    def __init__(self, url: str, pool: AsyncConnectionPool[psycopg.AsyncConnection[Row]]) -> None:
        self.url = url
        self.name = redact(url)
        self._pool = pool
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    @classmethod
    async def open(cls, url: str, *, max_size: int = 8) -> PgDatabase:
        """Connect (ConnectionError naming the server when it cannot be reached)."""
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Row]] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True},
            open=False,
            name="xxci",
            timeout=30.0,
        )
        try:
            await pool.open(wait=True, timeout=15.0)
        except Exception as err:
            with contextlib.suppress(Exception):
                await pool.close()
            raise ConnectionError(f"cannot connect to {redact(url)}: {err}") from err
        return cls(url, pool)

    async def read(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """One statement on a pooled connection; its rows."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql.encode(), params)
            return await cur.fetchall() if cur.description is not None else []

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[psycopg.AsyncConnection[Row]]:
        """A connection inside ``BEGIN``; ``COMMIT`` on exit, ``ROLLBACK`` on error."""
        if self._closed:
            raise RuntimeError(f"{self.name}: database is closed")
        async with self._pool.connection() as conn, conn.transaction():
            yield conn

    async def complete(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` (a write) to completion even if the caller is cancelled; the
        caller still sees its CancelledError, and ``close()`` waits for it."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._forget)
        return await asyncio.shield(task)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()

    async def close(self) -> None:
        """Wait for pending writes, then close the pool. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._pool.close()


class Listener:
    """``LISTEN`` on ``channels`` with a connection of its own; ``on_notify(channel,
    payload)`` for each notification, ``on_reconnect()`` after a lost connection is
    back (a notification may have been missed meanwhile). Runs in a task it owns."""

    def __init__(
        self,
        url: str,
        channels: Sequence[str],
        on_notify: Callable[[str, str], Coroutine[Any, Any, None]],
        on_reconnect: Callable[[], Coroutine[Any, Any, None]],
        *,
        retry_seconds: float = 0.5,
    ) -> None:
        self._url = url
        self._channels = list(channels)
        self._on_notify = on_notify
        self._on_reconnect = on_reconnect
        self._retry = retry_seconds
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start listening; returns once the first ``LISTEN`` is in place."""
        self._task = asyncio.create_task(self._run(), name=f"listen {redact(self._url)}")
        ready = asyncio.ensure_future(self._ready.wait())
        done, _ = await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            ready.cancel()
            self._task.result()  # raises what stopped it

    async def _run(self) -> None:
        first = True
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
            except psycopg.OperationalError:
                if first:
                    raise
                await asyncio.sleep(self._retry)
                continue
            try:
                async with conn:
                    for channel in self._channels:
                        await conn.execute(f"LISTEN {channel}".encode())
                    if not first:
                        await self._on_reconnect()
                    first = False
                    self._ready.set()
                    async for note in conn.notifies():
                        await self._on_notify(note.channel, note.payload)
            except psycopg.OperationalError as err:
                log.warning("lost the notification connection to %s: %s", redact(self._url), err)
                await asyncio.sleep(self._retry)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
