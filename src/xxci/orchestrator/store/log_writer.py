"""The group-committing writer both log stores share.

Appends wait in a bounded queue (a full queue slows the producers down) and one writer
task stores everything queued so far in one transaction, so many jobs streaming at
once cost one commit per burst, not per chunk. The backend gives the insert (the new
chunks' ids, in one transaction) and what to do once chunks are stored (wake its
followers).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from xxci.orchestrator.store._sqlite import format_time

if TYPE_CHECKING:
    from xxci.orchestrator.store.log_store import LogChunk

__all__ = ["ChunkId", "LogWriter"]

ChunkId = tuple[str, str, int, int]
_QUEUE_SIZE = 256  # pending append calls
BATCH_ROWS = 1000  # chunks per transaction


@dataclass
class _Pending:
    """One append call waiting for the writer: its chunks and how many were new."""

    chunks: list[LogChunk]
    stored: asyncio.Future[int]


class LogWriter:
    """The writer task of a log store named ``name``; needs a running loop."""

    def __init__(
        self,
        name: str,
        insert: Callable[[Sequence[LogChunk]], Awaitable[set[ChunkId]]],
        stored: Callable[[Sequence[LogChunk]], Awaitable[None]],
    ) -> None:
        self._name = name
        self._insert = insert
        self._stored = stored
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue(_QUEUE_SIZE)
        self._closing = False
        self._task = asyncio.create_task(self._write_forever(), name=f"log writer {name}")

    async def close(self) -> None:
        """Store every append already queued, then stop. Idempotent."""
        if not self._closing:
            self._closing = True
            await self._queue.put(None)
            await self._task

    async def append_many(self, chunks: Iterable[LogChunk]) -> int:
        """Store ``chunks`` (atomically, with whatever else is queued); returns how many
        were new. Cancelling the caller does not withdraw chunks already queued."""
        batch = list(chunks)
        for chunk in batch:
            if chunk.seq < 1 or chunk.attempt < 1:
                raise ValueError(f"log chunk seq and attempt start at 1: {chunk.id}")
            format_time(chunk.at)  # reject naive timestamps here, not in the writer
        if not batch:
            return 0
        if self._closing:
            raise RuntimeError(f"{self._name}: log store is closed")
        pending = _Pending(batch, asyncio.get_running_loop().create_future())
        await self._queue.put(pending)
        return await pending.stored

    async def _write_forever(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            group, rows, stop = [first], len(first.chunks), False
            while rows < BATCH_ROWS and not self._queue.empty():
                pending = self._queue.get_nowait()
                if pending is None:
                    stop = True
                    break
                group.append(pending)
                rows += len(pending.chunks)
            await self._write(group)
            if stop:
                return

    async def _write(self, group: list[_Pending]) -> None:
        chunks = [chunk for pending in group for chunk in pending.chunks]
        try:
            new = await self._insert(chunks)
        except Exception as exc:  # reported to every caller of the group
            for pending in group:
                if not pending.stored.done():
                    pending.stored.set_exception(exc)
            return
        for pending in group:
            count = 0
            for chunk in pending.chunks:
                if chunk.id in new:
                    new.discard(chunk.id)  # a chunk twice in one group is new once
                    count += 1
            if not pending.stored.done():  # done: the caller was cancelled
                pending.stored.set_result(count)
        await self._stored(chunks)
