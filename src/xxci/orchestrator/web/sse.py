"""Server-Sent Events: a feed of the orchestrator written to a browser as it comes.

A feed (the event log, a job's output) is read by one task into a bounded queue; the
handler writes each message as it arrives, a comment line when nothing came for
:data:`HEARTBEAT_SECONDS` (so a dead connection is found and proxies keep it open),
and ends when the feed ends, the client goes away, or the server shuts down
(:class:`LiveStreams` ends every open stream). Each message carries an ``id`` so a
browser that reconnects sends ``Last-Event-ID`` and resumes after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from xxci.common.errors import XxciError

__all__ = ["HEARTBEAT_SECONDS", "LiveStreams", "Message", "last_event_id", "send_stream"]

log = logging.getLogger("xxci.web")

HEARTBEAT_SECONDS = 15.0
RETRY_MILLISECONDS = 1000
QUEUE_SIZE = 256


@dataclass(frozen=True)
class Message:
    """One event of the stream: ``data`` (JSON text), an ``id`` to resume after, and
    an ``event`` name (empty: the default ``message``)."""

    data: str
    id: str = ""
    event: str = ""

    def encode(self) -> bytes:
        lines = [f"event: {self.event}"] if self.event else []
        if self.id:
            lines.append(f"id: {self.id}")
        lines += [f"data: {line}" for line in self.data.split("\n")]
        return ("\n".join(lines) + "\n\n").encode("utf-8")


_Item = Message | None  # None: the stream is over


class LiveStreams:
    """The open streams of one application, so shutting down can end them."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[_Item]] = set()
        self.closing = False

    def add(self, queue: asyncio.Queue[_Item]) -> None:
        self._queues.add(queue)

    def discard(self, queue: asyncio.Queue[_Item]) -> None:
        self._queues.discard(queue)

    def close_all(self) -> None:
        """Tell every open stream to end (now and for any that opens later)."""
        self.closing = True
        for queue in list(self._queues):
            _put_last(queue)

    def __len__(self) -> int:
        return len(self._queues)


def last_event_id(request: web.Request) -> str:
    """The id a reconnecting browser resumes after (``Last-Event-ID``), or ``""``."""
    return request.headers.get("Last-Event-ID", "").strip()


async def send_stream(
    request: web.Request,
    messages: AsyncIterator[Message],
    live: LiveStreams,
    heartbeat: float = HEARTBEAT_SECONDS,
) -> web.StreamResponse:
    """Answer ``request`` with ``messages`` as an event stream (see the module).

    A feed that fails with an :class:`XxciError` ends the stream with a ``failure``
    event holding the message; the stream then ends with an ``end`` event either way
    when the feed is over, so the page knows not to reconnect.
    """
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache, no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    queue: asyncio.Queue[_Item] = asyncio.Queue(QUEUE_SIZE)
    live.add(queue)
    if live.closing:
        _put_last(queue)
    pump = asyncio.create_task(_pump(messages, queue), name="sse-feed")
    try:
        await response.write(f"retry: {RETRY_MILLISECONDS}\n\n".encode())
        while True:
            try:
                async with asyncio.timeout(heartbeat):
                    item = await queue.get()
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if item is None:
                break
            await response.write(item.encode())
    except ConnectionError:
        pass  # the browser went away: nothing to tell it
    finally:
        live.discard(queue)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
    return response


async def _pump(messages: AsyncIterator[Message], queue: asyncio.Queue[_Item]) -> None:
    try:
        async for message in messages:
            await queue.put(message)
    except XxciError as err:
        await queue.put(Message(data=str(err), event="failure"))
    except Exception:
        log.exception("a live feed failed")
        await queue.put(Message(data="the feed failed; see the server log", event="failure"))
    finally:
        aclose = getattr(messages, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
    await queue.put(Message(data="{}", event="end"))
    await queue.put(None)


def _put_last(queue: asyncio.Queue[_Item]) -> None:
    """Make ``None`` the next item the reader gets after what is queued, dropping the
    oldest message if the queue is full (the stream is ending anyway)."""
    if queue.full():
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()
    queue.put_nowait(None)
