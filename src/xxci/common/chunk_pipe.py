"""Bytes arriving in chunks on the event loop, read as a file in a worker thread.

``tarfile`` (and every other reader of files) is synchronous; an archive streamed from
Docker or from the network arrives as async chunks. :func:`read_in_thread` runs the
synchronous reader in a thread on a file-like view of the chunks, with at most a few
chunks in flight between the two (memory stays flat whatever the size), and stops
pulling chunks as soon as the reader returns: a reader that has seen enough ends the
transfer.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterable, Callable
from typing import IO, Any, TypeVar

__all__ = ["read_in_thread"]

T = TypeVar("T")

_IN_FLIGHT = 4
"""Chunks waiting for the reader, at most."""


class _Aborted(Exception):
    """The chunks stopped coming because their source failed."""


class _ChunkReader(io.RawIOBase):
    """The file-like side, in the reader's thread."""

    def __init__(self, next_chunk: Callable[[], bytes | None]) -> None:
        self._next = next_chunk
        self._pending = memoryview(b"")
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending and not self._eof:
            chunk = self._next()
            if chunk is None:
                raise _Aborted("the stream was interrupted")
            if chunk:
                self._pending = memoryview(chunk)
            else:
                self._eof = True
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


async def read_in_thread(chunks: AsyncIterable[bytes], reader: Callable[[IO[bytes]], T]) -> T:
    """``reader(file)`` in a worker thread, ``file`` reading ``chunks`` in order.

    Returns what ``reader`` returns, as soon as it returns (chunks not read yet are
    not pulled). An error of ``reader`` is raised here; an error of ``chunks`` too,
    after the reader has been told the stream ended.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(_IN_FLIGHT)

    def next_chunk() -> bytes | None:
        return asyncio.run_coroutine_threadsafe(queue.get(), loop).result()

    file = io.BufferedReader(_ChunkReader(next_chunk), buffer_size=256 * 1024)
    consumer = asyncio.ensure_future(asyncio.to_thread(reader, file))
    try:
        async for chunk in chunks:
            if not chunk:
                continue
            if not await _put(queue, chunk, consumer):
                break
        else:
            await _put(queue, b"", consumer)  # the end of the stream
    except BaseException:
        # Tell the reader the stream is broken, then let it finish (a thread cannot be
        # cancelled: it must not be left waiting for a chunk that never comes).
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(None)
        await asyncio.gather(consumer, return_exceptions=True)
        raise
    try:
        return await consumer
    except _Aborted:
        raise RuntimeError("the stream ended before its reader did") from None


async def _put(
    queue: asyncio.Queue[bytes | None], chunk: bytes, consumer: asyncio.Future[Any]
) -> bool:
    """Queue ``chunk`` unless the consumer finished first; whether it was queued."""
    if consumer.done():
        return False
    put = asyncio.ensure_future(queue.put(chunk))
    await asyncio.wait([put, consumer], return_when=asyncio.FIRST_COMPLETED)
    if put.done():
        return True
    put.cancel()
    return False
