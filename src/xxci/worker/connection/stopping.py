"""A worker's way out: a stop asked for, the drain it waits for, and when it is over.

A stop with ``drain`` lets running attempts finish and their messages be
acknowledged (reconnecting for that if need be, for up to ``flush_timeout``); a hard
stop first cancels the running attempts. Both may be asked for any number of times,
and a hard stop may follow a drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from xxci.worker.connection.attempts import Attempts
from xxci.worker.connection.outbox import Outboxes

__all__ = ["Stopping"]

log = logging.getLogger("xxci.worker")


class Stopping:
    """Whether a stop was asked for, and whether the worker (of the orchestrator at
    ``target``) may now close. ``clock()`` is the loop's monotonic time, in seconds.
    """

    def __init__(
        self,
        target: str,
        attempts: Attempts,
        outboxes: Outboxes,
        flush_timeout: float,
        clock: Callable[[], float],
    ) -> None:
        self.requested = asyncio.Event()
        self._target = target
        self._attempts = attempts
        self._outboxes = outboxes
        self._flush_timeout = flush_timeout
        self._clock = clock
        self._hard = False
        self._changed = asyncio.Event()
        self._idle_since: float | None = None

    def request(self, drain: bool) -> None:
        """Ask for a stop; without ``drain``, cancel the running attempts first."""
        self.requested.set()
        if not drain and not self._hard:
            self._hard = True
            self._attempts.cancel_all()
        self.changed()

    def changed(self) -> None:
        """Something the stop waits for changed (an attempt ended, a stop was asked)."""
        self._changed.set()

    async def wait_changed(self, seconds: float | None = None) -> None:
        """Wait until something changed, at most ``seconds``."""
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._changed.wait()

    def over(self) -> bool:
        """Whether the worker may close: stopping, nothing runs, and every message was
        acknowledged (or ``flush_timeout`` passed since it was first found idle)."""
        if not self.requested.is_set() or len(self._attempts):
            return False
        if self._outboxes.delivered():
            return True
        now = self._clock()
        if self._idle_since is None:
            self._idle_since = now
        if now - self._idle_since >= self._flush_timeout:
            log.warning("giving up on results %s did not acknowledge", self._target)
            return True
        return False

    async def drained(self) -> None:
        """Wait until no attempt runs, then (at most ``flush_timeout``) until the
        orchestrator acknowledged every message."""
        while len(self._attempts):
            await self.wait_changed()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._flush_timeout):
                await self._outboxes.wait_delivered()
