"""Per-attempt outboxes: progress that must survive a dropped stream.

Every message about an attempt (Accept, JobStarted, LogChunk, StepFinished,
JobFinished) goes into that attempt's :class:`Outbox`, never straight onto the
stream. The connection's feeder takes messages out with :meth:`Outboxes.next`
(round-robin over attempts, in order within one), and the writer reports each one
with :meth:`Outboxes.written` once ``call.write`` returned. When the stream drops,
:meth:`Outboxes.set_online` ``(False)`` rewinds every outbox: whatever was not
written yet is sent again, in order, after the next Welcome.

Delivery rules:

* A message counts as sent once it was written to a stream, and is then forgotten;
  the orchestrator stores log chunks idempotently by ``seq`` and ignores duplicates
  of the other messages, so sending the unsent tail again is always safe.
* ``JobFinished`` is kept after writing until the orchestrator answers
  ``Ack(ref, of="job_finished")``; without an ack it is sent again after each
  reconnect, at most :data:`MAX_FINISH_SENDS` times in all, and at most
  :data:`MAX_UNACKED` of them are kept (oldest forgotten first).
* Log output is bounded per attempt (``max_log_bytes`` of unsent chunk data; keep it
  at least two chunks, so the newest chunk is never the one dropped). While
  the stream is up, a producer over the bound waits for the writer (backpressure).
  While it is down, producers never wait: the *oldest* unsent chunks are dropped so
  the latest output survives, and the first dropped chunk's ``seq`` is reused for
  one ``system`` chunk saying how much was dropped.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from xxci.common.pb.v1 import worker_pb2
from xxci.worker.convert import AttemptKey

__all__ = ["MAX_FINISH_SENDS", "MAX_UNACKED", "Outbox", "Outboxes", "Pending"]

MAX_FINISH_SENDS = 3
MAX_UNACKED = 64
DEFAULT_MAX_LOG_BYTES = 8 * 1024 * 1024


@dataclass(eq=False)
class _Item:
    msg: worker_pb2.WorkerMessage
    log_bytes: int = 0
    is_finish: bool = False
    sends: int = 0  # how many streams it was written to
    dropped_chunks: int = 0  # > 0: a marker standing for dropped output
    dropped_bytes: int = 0


@dataclass(frozen=True, eq=False)
class Pending:
    """One message taken out of an outbox, to be written and then reported written."""

    outbox: Outbox
    item: _Item

    @property
    def message(self) -> worker_pb2.WorkerMessage:
        return self.item.msg


class Outbox:
    """The not-yet-sent messages of one attempt, in the order they were produced."""

    def __init__(self, key: AttemptKey, owner: Outboxes, max_log_bytes: int) -> None:
        self.key = key
        self._owner = owner
        self._max_log_bytes = max_log_bytes
        self._items: deque[_Item] = deque()
        self._cursor = 0  # items before it were handed to the current stream
        self._log_bytes = 0
        self._marker: _Item | None = None  # unsent marker that further drops merge into
        self._space = asyncio.Event()
        self._closed = False
        self.dropped_bytes = 0

    async def put(self, msg: worker_pb2.WorkerMessage) -> None:
        """Queue ``msg``; waits only for log chunks over the bound while online."""
        if self._closed:
            raise RuntimeError(f"outbox of {self.key} is closed")
        kind = msg.WhichOneof("kind")
        if kind == "log_chunk":
            while self._owner.online and self._log_bytes >= self._max_log_bytes:
                self._space.clear()
                await self._space.wait()
            if self._closed:
                raise RuntimeError(f"outbox of {self.key} is closed")
        item = _Item(msg=msg, is_finish=kind == "job_finished")
        if kind == "log_chunk":
            item.log_bytes = len(msg.log_chunk.data)
            self._log_bytes += item.log_bytes
        self._items.append(item)
        if not self._owner.online:
            self._shed()
        self._owner._changed()

    def close(self) -> None:
        """No more messages will come (the attempt ended)."""
        self._closed = True
        self._space.set()
        self._owner._forget_if_done(self)
        self._owner._changed()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def finish_sent(self) -> bool:
        """Whether the attempt's JobFinished was written to some stream (or acked)."""
        if not self._closed:
            return False
        return not any(item.is_finish and item.sends == 0 for item in self._items)

    @property
    def unsent(self) -> bool:
        """Whether some message here was never written to any stream."""
        return any(item.sends == 0 for item in self._items)

    def _next(self) -> _Item | None:
        if self._cursor >= len(self._items):
            return None
        item = self._items[self._cursor]
        self._cursor += 1
        if item is self._marker:
            self._marker = None  # handed out: never change it again
        return item

    def _remove(self, item: _Item) -> None:
        for index, candidate in enumerate(self._items):
            if candidate is item:
                del self._items[index]
                if index < self._cursor:
                    self._cursor -= 1
                self._log_bytes -= item.log_bytes
                if item is self._marker:
                    self._marker = None
                self._space.set()
                return

    def _written(self, item: _Item) -> bool:
        """Record ``item`` as written; True if it stays (a JobFinished awaiting its ack)."""
        item.sends += 1
        if item.is_finish and item.sends < MAX_FINISH_SENDS:
            return True
        self._remove(item)
        return False

    def _ack_finish(self) -> None:
        for item in list(self._items):
            if item.is_finish:
                self._remove(item)

    def _rewind(self) -> None:
        self._cursor = 0
        self._space.set()  # producers waiting for the writer must now drop instead
        self._shed()

    @property
    def _done(self) -> bool:
        return self._closed and not self._items

    def _shed(self) -> None:
        """Offline and over the bound: drop the oldest unsent chunks, keep the latest."""
        while self._log_bytes > self._max_log_bytes:
            victim = self._oldest_droppable()
            if victim is None:
                return
            self.dropped_bytes += victim.log_bytes
            if self._marker is None:
                # The first dropped chunk becomes the marker, keeping its seq.
                victim.dropped_chunks, victim.dropped_bytes = 1, victim.log_bytes
                self._marker = victim
                self._log_bytes -= victim.log_bytes
                victim.log_bytes = 0
            else:
                self._remove(victim)
                self._marker.dropped_chunks += 1
                self._marker.dropped_bytes += victim.log_bytes
            chunk = self._marker.msg.log_chunk
            chunk.stream = "system"
            count = self._marker.dropped_chunks
            chunk.data = (
                f"[xxci] {self._marker.dropped_bytes} bytes of output "
                f"({count} chunk{'s' if count != 1 else ''}) dropped here: "
                "the orchestrator was unreachable and the worker keeps only the latest "
                "output\n"
            ).encode()

    def _oldest_droppable(self) -> _Item | None:
        for index in range(self._cursor, len(self._items)):
            item = self._items[index]
            if item.log_bytes and item is not self._marker and item.sends == 0:
                return item
        return None


class Outboxes:
    """All outboxes of one worker, and the online/offline state of its stream."""

    def __init__(self, max_log_bytes: int = DEFAULT_MAX_LOG_BYTES) -> None:
        self._max_log_bytes = max_log_bytes
        self._boxes: dict[AttemptKey, Outbox] = {}
        self._unacked: deque[Outbox] = deque()
        self._ready = asyncio.Event()
        self._change = asyncio.Event()
        self._rr = 0
        self.online = False

    def open(self, key: AttemptKey) -> Outbox:
        """A new outbox for attempt ``key``."""
        if key in self._boxes:
            raise RuntimeError(f"attempt {key} already has an outbox")
        box = Outbox(key, self, self._max_log_bytes)
        self._boxes[key] = box
        return box

    def __contains__(self, key: object) -> bool:
        return key in self._boxes

    def unfinished(self) -> list[AttemptKey]:
        """Attempts whose JobFinished was not written yet (still running, or unsent)."""
        return [key for key, box in self._boxes.items() if not box.finish_sent]

    def flushed(self) -> bool:
        """Whether every message was written to a stream at least once."""
        return not any(box.unsent for box in self._boxes.values())

    async def wait_flushed(self) -> None:
        while not self.flushed():
            self._change.clear()
            await self._change.wait()

    def set_online(self, online: bool) -> None:
        """Mark the stream up or down; going down rewinds every outbox."""
        self.online = online
        if not online:
            for box in self._boxes.values():
                box._rewind()
        self._changed()

    async def next(self) -> Pending:
        """The next message to write: round-robin over attempts, in order within one."""
        while True:
            self._ready.clear()
            boxes = list(self._boxes.values())
            for offset in range(len(boxes)):
                box = boxes[(self._rr + offset) % len(boxes)]
                item = box._next()
                if item is not None:
                    self._rr = (self._rr + offset + 1) % len(boxes)
                    return Pending(box, item)
            await self._ready.wait()

    def written(self, pending: Pending) -> None:
        """``pending`` was written to the stream."""
        box = pending.outbox
        kept = box._written(pending.item)
        if kept and pending.item.sends == 1 and pending.item in box._items:
            self._unacked.append(box)
            while len(self._unacked) > MAX_UNACKED:
                oldest = self._unacked.popleft()
                oldest._ack_finish()
                self._forget_if_done(oldest)
        self._forget_if_done(box)
        self._changed()

    def acked(self, key: AttemptKey, of: str) -> None:
        """The orchestrator acknowledged message kind ``of`` for attempt ``key``."""
        if of.replace("_", "").lower() != "jobfinished":
            return
        box = self._boxes.get(key)
        if box is None:
            return
        box._ack_finish()
        self._forget_if_done(box)
        self._changed()

    def _forget_if_done(self, box: Outbox) -> None:
        if box._done and self._boxes.get(box.key) is box:
            del self._boxes[box.key]
            if box in self._unacked:
                self._unacked.remove(box)

    def _changed(self) -> None:
        self._ready.set()
        self._change.set()
