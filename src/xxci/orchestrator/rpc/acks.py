"""Acknowledging a worker's attempt messages: cumulative per attempt, and batched.

A worker keeps each attempt message (``WorkerMessage.seq`` > 0) until an
``Ack(ref, through=N)`` covers it, and sends the ones not covered again after a
reconnect. One stream's messages are handled in order, so once the message ``seq``
of an attempt was handled, every earlier one of that attempt was too: one Ack covers
them all. An Ack goes out :data:`ACK_DELAY` seconds after the first message it covers
was handled, after :data:`ACK_EVERY` messages, or at once when asked (after a
JobFinished, which frees the worker's memory of the attempt), so that a stream of log
chunks does not double the traffic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from xxci.common.attempts import AttemptKey
from xxci.orchestrator.domain.messages import Ack

__all__ = ["ACK_DELAY", "ACK_EVERY", "AckBatcher"]

ACK_DELAY = 0.05
ACK_EVERY = 64


class AckBatcher:
    """The Acks owed on one worker stream; ``send`` puts a message on that stream.

    :meth:`run` must run (as a task the stream owns) for delayed Acks to go out. What
    is still owed when the stream ends is never sent: the worker sends those messages
    again on its next stream, and they are handled (as repeats) and acked then.
    """

    def __init__(
        self,
        send: Callable[[Ack], object],
        *,
        delay: float = ACK_DELAY,
        every: int = ACK_EVERY,
    ) -> None:
        self._send = send
        self._delay = delay
        self._every = every
        self._owed: dict[AttemptKey, tuple[int, int]] = {}  # attempt -> (through, messages)
        self._due = asyncio.Event()

    def handled(self, key: AttemptKey, seq: int, *, now: bool = False) -> None:
        """Message ``seq`` of attempt ``key`` was handled (appended, stored, or
        recognised as a repeat or as stale and recorded); ``now`` acks it at once."""
        if seq <= 0:
            return  # not an attempt message, or from a worker that does not number them
        through, count = self._owed.get(key, (0, 0))
        self._owed[key] = (max(through, seq), count + 1)
        if now or count + 1 >= self._every:
            self._ack(key)
        else:
            self._due.set()

    def flush(self) -> None:
        """Send every Ack owed now."""
        for key in list(self._owed):
            self._ack(key)

    async def run(self) -> None:
        """Send owed Acks ``delay`` after the first of them; runs until cancelled."""
        while True:
            await self._due.wait()
            await asyncio.sleep(self._delay)
            self._due.clear()
            self.flush()

    def _ack(self, key: AttemptKey) -> None:
        through, _ = self._owed.pop(key)
        self._send(Ack(key, through))
