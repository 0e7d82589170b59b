"""Coalescing an attempt's output into chunks worth a message each."""

from __future__ import annotations

import asyncio

from xxci.worker.attempt.messages import MessageSink, OutputChunk

__all__ = ["MAX_CHUNK_BYTES", "MAX_CHUNK_DELAY", "LogBatcher"]

MAX_CHUNK_BYTES = 64 * 1024
MAX_CHUNK_DELAY = 0.1


class LogBatcher:
    """Coalesces executor output into :class:`OutputChunk` messages.

    Output is buffered per stream and sent when 64 KiB accumulate, 100 ms after the
    first buffered byte, when the stream name changes, or on :meth:`flush` (before
    any other message, so order is kept). ``seq`` counts from 1 per attempt.
    """

    def __init__(
        self,
        sink: MessageSink,
        max_bytes: int = MAX_CHUNK_BYTES,
        max_delay: float = MAX_CHUNK_DELAY,
    ) -> None:
        self._sink = sink
        self._max_bytes = max_bytes
        self._max_delay = max_delay
        self._stream = ""
        self._buffer = bytearray()
        self._seq = 0
        self._lock = asyncio.Lock()
        self._pending = asyncio.Event()

    async def output(self, stream: str, data: bytes) -> None:
        if not data:
            return
        if self._buffer and stream != self._stream:
            await self.flush()
        self._stream = stream
        self._buffer += data
        self._pending.set()
        if len(self._buffer) >= self._max_bytes:
            await self._send(whole=False)

    async def flush(self) -> None:
        """Send everything buffered now (in chunks of at most ``max_bytes``)."""
        await self._send(whole=True)

    async def _send(self, whole: bool) -> None:
        """Send full chunks, and with ``whole`` the partial tail too."""
        async with self._lock:
            while self._buffer and (whole or len(self._buffer) >= self._max_bytes):
                data = bytes(self._buffer[: self._max_bytes])
                del self._buffer[: self._max_bytes]
                self._seq += 1
                await self._sink.put(OutputChunk(seq=self._seq, stream=self._stream, data=data))
            if not self._buffer:
                self._pending.clear()

    async def run_timer(self) -> None:
        """Flush buffered output ``max_delay`` after it arrived; runs until cancelled."""
        while True:
            await self._pending.wait()
            await asyncio.sleep(self._max_delay)
            await self.flush()
