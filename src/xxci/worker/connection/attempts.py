"""The attempts a worker holds: taking assignments on or refusing them, cancels, ends.

:class:`Attempts` owns one task per running :class:`~xxci.worker.attempt.runner.AttemptRunner`
and the outboxes their messages go to. It speaks no protobuf: the stream converts
what comes in (:mod:`xxci.worker.connection.wire`) before it gets here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from xxci.common.attempts import AttemptKey
from xxci.worker.attempt.messages import Accepted, MessageSink
from xxci.worker.attempt.runner import AttemptRunner
from xxci.worker.connection.outbox import Outboxes
from xxci.worker.connection.protocol import AssignmentError
from xxci.worker.executor import Assignment

__all__ = ["AcceptAgain", "Attempts", "Ignore", "Refuse", "Taken"]

log = logging.getLogger("xxci.worker")

RunnerFactory = Callable[[Assignment, MessageSink], AttemptRunner]


@dataclass(frozen=True)
class Taken:
    """The attempt was taken on: its Accept is the first message in its outbox."""


@dataclass(frozen=True)
class AcceptAgain:
    """The attempt already runs here (an assignment sent again): say Accept again."""


@dataclass(frozen=True)
class Ignore:
    """The attempt ended here and its result is on its way: nothing to say."""


@dataclass(frozen=True)
class Refuse:
    """The worker cannot take the attempt on; ``reason`` is the Reject's text."""

    reason: str


Answer = Taken | AcceptAgain | Ignore | Refuse


@dataclass
class _Running:
    runner: AttemptRunner
    task: asyncio.Task[None]


class Attempts:
    """The running attempts of one worker, at most ``capacity`` at a time.

    ``on_change()`` is called whenever an attempt ends.
    """

    def __init__(
        self,
        capacity: int,
        outboxes: Outboxes,
        runner: RunnerFactory,
        on_change: Callable[[], None],
    ) -> None:
        self.capacity = capacity
        self._outboxes = outboxes
        self._runner = runner
        self._on_change = on_change
        self._running: dict[AttemptKey, _Running] = {}

    def __len__(self) -> int:
        return len(self._running)

    def keys(self) -> list[AttemptKey]:
        """Attempts still running, or whose Finished was not written yet."""
        return sorted(set(self._running) | set(self._outboxes.unfinished()))

    async def offer(
        self, key: AttemptKey, assignment: Assignment | AssignmentError, *, draining: bool
    ) -> Answer:
        """Take attempt ``key`` on, or say why not. ``assignment`` is what the
        orchestrator sent, or why it cannot be run."""
        if key in self._running:  # sent again (e.g. after a reconnect): still ours
            return AcceptAgain()
        if key in self._outboxes:  # finished here; its Finished is on its way
            log.info("ignoring a repeated assignment of finished attempt %s", key)
            return Ignore()
        reason = ""
        if draining:
            reason = "worker is draining"
        elif len(self._running) >= self.capacity:
            reason = f"worker is at capacity ({len(self._running)} of {self.capacity} busy)"
        elif isinstance(assignment, AssignmentError):
            reason = str(assignment)
        if reason or isinstance(assignment, AssignmentError):
            log.info("rejecting %s: %s", key, reason)
            return Refuse(reason)
        outbox = self._outboxes.open(key)
        await outbox.put(Accepted())
        runner = self._runner(assignment, outbox)
        task = asyncio.create_task(runner.run(), name=f"attempt {key}")
        self._running[key] = _Running(runner, task)
        task.add_done_callback(lambda t: self._done(key, t))
        log.info("accepted %s (%s)", key, assignment.image)
        return Taken()

    def cancel(
        self, key: AttemptKey, grace_seconds: float | None, reason: str, *, revoke: bool = False
    ) -> None:
        """Stop attempt ``key`` if it runs here; with ``revoke`` (it is no longer this
        worker's), at once."""
        running = self._running.get(key)
        if running is None:
            log.debug("cancel for %s, which is not running here", key)
            return
        if revoke:
            log.warning("%s is no longer this worker's (%s): killing it", key, reason)
            running.runner.revoke()
            return
        log.info("canceling %s: %s", key, reason or "requested")
        running.runner.cancel(grace_seconds)

    def cancel_all(self) -> None:
        """Stop every running attempt; each still reports how it ended."""
        for running in self._running.values():
            running.runner.cancel()

    async def abort(self) -> None:
        """Cancel whatever still runs, tasks and all, and wait for them to end."""
        running = list(self._running.values())
        for item in running:
            item.runner.cancel()
            item.task.cancel()
        await asyncio.gather(*(item.task for item in running), return_exceptions=True)

    def _done(self, key: AttemptKey, task: asyncio.Task[None]) -> None:
        running = self._running.get(key)
        if running is not None and running.task is task:
            del self._running[key]
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("attempt %s crashed: %r", key, error)
        self._on_change()
