"""Per-attempt outboxes: every attempt message is kept until the orchestrator acks it.

Every message about an attempt (see :mod:`xxci.worker.attempt.messages`: Accepted,
Started, OutputChunk, StepFinished, Finished) goes into that attempt's
:class:`Outbox`, never straight onto the stream; :meth:`Outbox.put` numbers it (its
``seq``, ``WorkerMessage.seq`` on the wire, from 1 per attempt).
The connection's feeder takes messages out with :meth:`Outboxes.next` (round-robin
over attempts, in order within one), and the writer reports each one with
:meth:`Outboxes.written` once ``call.write`` returned.

Delivery rules:

* A message is kept until the orchestrator answers ``Ack(ref, through=N)`` with
  ``N >= seq`` (:meth:`Outboxes.acked`): it has then handled the attempt's messages up
  to N. Being written to a stream is not enough: a stream can break with messages in
  flight that the orchestrator never handled.
* When the stream drops, :meth:`Outboxes.set_online` ``(False)`` rewinds every outbox:
  after the next Welcome, every message not acked yet is sent again, in order. The
  orchestrator makes that harmless: it stores log chunks by their own ``seq`` and
  ignores a JobStarted, StepFinished or JobFinished it has already applied.
* Log output is bounded per attempt by ``max_log_bytes`` (keep it at least two
  chunks, so the newest chunk is never the one dropped), twice over:

  - Unsent chunk data (never written to a stream). While the stream is up, a
    producer over the bound waits for the writer (backpressure). While it is down,
    producers never wait: the *oldest* unsent chunks are dropped so the latest output
    survives, and the first dropped chunk's ``seq`` is reused for one ``system`` chunk
    saying how much was dropped. Written chunks are never dropped: the orchestrator
    may hold them already, and would then ignore a marker reusing their ``seq``.
  - Written but unacknowledged chunk data: while it is over the bound, the feeder
    hands out no further chunk of that attempt (a send window), so an orchestrator
    that stops acking slows the producers down instead of growing the worker.

  An attempt thus keeps at most about twice ``max_log_bytes`` of output. Its other
  messages are few (one per script line at most) and never dropped.
* At most :data:`MAX_UNACKED` attempts that ended keep messages waiting for an ack;
  past that, the oldest one's are forgotten (an orchestrator that never acks must not
  grow the worker without end). The orchestrator acks every message it handles, even a
  rejected one, so this only happens to one that is broken.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, replace

from xxci.common.attempts import AttemptKey, LogStream
from xxci.worker.attempt.messages import AttemptMessage, Finished, OutputChunk

__all__ = ["MAX_UNACKED", "Outbox", "Outboxes", "Pending"]

log = logging.getLogger("xxci.worker")

MAX_UNACKED = 64
DEFAULT_MAX_LOG_BYTES = 8 * 1024 * 1024


@dataclass(eq=False)
class _Item:
    message: AttemptMessage
    seq: int
    log_bytes: int = 0
    is_finish: bool = False
    out: bool = False  # handed to the current stream, or written to some stream
    sends: int = 0  # how many streams it was written to
    gone: bool = False  # acked (or forgotten): no longer in its outbox
    dropped_chunks: int = 0  # > 0: a marker standing for dropped output
    dropped_bytes: int = 0


@dataclass(frozen=True, eq=False)
class Pending:
    """One message taken out of an outbox, to be written and then reported written."""

    outbox: Outbox
    item: _Item

    @property
    def key(self) -> AttemptKey:
        return self.outbox.key

    @property
    def seq(self) -> int:
        return self.item.seq

    @property
    def message(self) -> AttemptMessage:
        return self.item.message


class Outbox:
    """The unacknowledged messages of one attempt, in the order they were produced."""

    def __init__(self, key: AttemptKey, owner: Outboxes, max_log_bytes: int) -> None:
        self.key = key
        self._owner = owner
        self._max_log_bytes = max_log_bytes
        self._items: deque[_Item] = deque()
        self._cursor = 0  # items before it were handed to the current stream
        self._seq = 0
        self._unsent_bytes = 0  # chunk data never written (nor handed to this stream)
        self._out_bytes = 0  # chunk data handed out or written, not acked yet
        self._marker: _Item | None = None  # unsent marker that further drops merge into
        self._space = asyncio.Event()
        self._closed = False
        self.dropped_bytes = 0

    async def put(self, message: AttemptMessage) -> None:
        """Number ``message`` and queue it; waits only for output over the bound while
        online."""
        if self._closed:
            raise RuntimeError(f"outbox of {self.key} is closed")
        if isinstance(message, OutputChunk):
            while self._owner.online and self._unsent_bytes >= self._max_log_bytes:
                self._space.clear()
                await self._space.wait()
            if self._closed:
                raise RuntimeError(f"outbox of {self.key} is closed")
        self._seq += 1
        item = _Item(message=message, seq=self._seq, is_finish=isinstance(message, Finished))
        if isinstance(message, OutputChunk):
            item.log_bytes = len(message.data)
            self._unsent_bytes += item.log_bytes
        self._items.append(item)
        if not self._owner.online:
            self._shed()
        self._owner._changed()

    def close(self) -> None:
        """No more messages will come (the attempt ended)."""
        self._closed = True
        self._space.set()
        self._owner._ended(self)
        self._owner._changed()

    @property
    def finish_sent(self) -> bool:
        """Whether the attempt's Finished was written to some stream (or acked)."""
        if not self._closed:
            return False
        return not any(item.is_finish and item.sends == 0 for item in self._items)

    @property
    def kept(self) -> int:
        """How many messages wait for an ack."""
        return len(self._items)

    def _next(self) -> _Item | None:
        if self._cursor >= len(self._items):
            return None
        item = self._items[self._cursor]
        if not item.out and item.log_bytes and self._out_bytes >= self._max_log_bytes:
            return None  # the send window is full: wait for acks
        self._cursor += 1
        if not item.out:
            item.out = True
            self._unsent_bytes -= item.log_bytes
            self._out_bytes += item.log_bytes
            self._space.set()
        if item is self._marker:
            self._marker = None  # handed out: never change it again
        return item

    def _written(self, item: _Item) -> None:
        item.sends += 1

    def _ack(self, through: int) -> None:
        """Forget every message with ``seq <= through``."""
        while self._items and self._items[0].seq <= through:
            self._forget(self._items.popleft())
            self._cursor = max(0, self._cursor - 1)

    def _remove(self, item: _Item) -> None:
        for index, candidate in enumerate(self._items):
            if candidate is item:
                del self._items[index]
                if index < self._cursor:
                    self._cursor -= 1
                self._forget(item)
                return

    def _forget(self, item: _Item) -> None:
        item.gone = True
        if item.out:
            self._out_bytes -= item.log_bytes
        else:
            self._unsent_bytes -= item.log_bytes
        if item is self._marker:
            self._marker = None
        self._space.set()

    def _forget_all(self) -> None:
        while self._items:
            self._forget(self._items.popleft())
        self._cursor = 0

    def _rewind(self) -> None:
        self._cursor = 0
        for item in self._items:
            if item.out and item.sends == 0:  # handed to the stream that broke, unwritten
                item.out = False
                self._out_bytes -= item.log_bytes
                self._unsent_bytes += item.log_bytes
        self._space.set()  # producers waiting for the writer must now drop instead
        self._shed()

    @property
    def _done(self) -> bool:
        return self._closed and not self._items

    def _shed(self) -> None:
        """Offline and over the bound: drop the oldest unsent chunks, keep the latest."""
        while self._unsent_bytes > self._max_log_bytes:
            victim = self._oldest_droppable()
            if victim is None:
                return
            self.dropped_bytes += victim.log_bytes
            if self._marker is None:
                # The first dropped chunk becomes the marker, keeping its seqs.
                victim.dropped_chunks, victim.dropped_bytes = 1, victim.log_bytes
                self._marker = victim
                self._unsent_bytes -= victim.log_bytes
                victim.log_bytes = 0
            else:
                self._remove(victim)
                self._marker.dropped_chunks += 1
                self._marker.dropped_bytes += victim.log_bytes
            marker = self._marker
            assert isinstance(marker.message, OutputChunk)
            count = marker.dropped_chunks
            marker.message = replace(
                marker.message,
                stream=LogStream.SYSTEM,
                data=(
                    f"[xxci] {marker.dropped_bytes} bytes of output "
                    f"({count} chunk{'s' if count != 1 else ''}) dropped here: "
                    "the orchestrator was unreachable and the worker keeps only the latest "
                    "output\n"
                ).encode(),
            )

    def _oldest_droppable(self) -> _Item | None:
        for item in self._items:
            if item.log_bytes and item is not self._marker and not item.out:
                return item
        return None


class Outboxes:
    """All outboxes of one worker, and the online/offline state of its stream."""

    def __init__(self, max_log_bytes: int = DEFAULT_MAX_LOG_BYTES) -> None:
        self._max_log_bytes = max_log_bytes
        self._boxes: dict[AttemptKey, Outbox] = {}
        self._waiting: deque[Outbox] = deque()  # ended, with messages not acked yet
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
        """Attempts whose Finished was not written yet (still running, or unsent)."""
        return [key for key, box in self._boxes.items() if not box.finish_sent]

    def delivered(self) -> bool:
        """Whether the orchestrator acknowledged every message put so far."""
        return not any(box.kept for box in self._boxes.values())

    async def wait_delivered(self) -> None:
        while not self.delivered():
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
        if not pending.item.gone:  # an ack may overtake the writer's report
            pending.outbox._written(pending.item)
        self._changed()

    def acked(self, key: AttemptKey, through: int) -> None:
        """The orchestrator handled attempt ``key``'s messages up to seq ``through``."""
        box = self._boxes.get(key)
        if box is None:
            return
        box._ack(through)
        self._forget_if_done(box)
        self._changed()

    def _ended(self, box: Outbox) -> None:
        if self._forget_if_done(box):
            return
        self._waiting.append(box)
        while len(self._waiting) > MAX_UNACKED:
            oldest = self._waiting.popleft()
            log.warning(
                "forgetting %d unacknowledged message(s) of %s: too many ended attempts "
                "wait for acks",
                oldest.kept,
                oldest.key,
            )
            oldest._forget_all()
            self._forget_if_done(oldest)

    def _forget_if_done(self, box: Outbox) -> bool:
        if not box._done:
            return False
        if self._boxes.get(box.key) is box:
            del self._boxes[box.key]
        if box in self._waiting:
            self._waiting.remove(box)
        return True

    def _changed(self) -> None:
        self._ready.set()
        self._change.set()
