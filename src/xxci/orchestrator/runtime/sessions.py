"""One live stream of one worker: what it offers, what it runs, what it is sent."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime

from xxci.common.attempts import AttemptKey
from xxci.orchestrator.domain.messages import Command
from xxci.orchestrator.domain.worker_time import ClockOffset

__all__ = ["OUTBOX_SIZE", "WorkerSession"]

log = logging.getLogger("xxci.orchestrator")

OUTBOX_SIZE = 256


@dataclass(eq=False)
class WorkerSession:
    """A connected worker. ``attempts`` are those taking its slots; the stream drains
    ``outbox`` (bounded: a worker that does not read its stream is closed, not waited
    for); ``None`` in it ends the stream. ``clock_offset`` estimates how far the
    worker's clock is off, from the readings of it this stream brought."""

    worker_id: str
    name: str
    capacity: int
    labels: frozenset[str]
    peer: str = ""
    draining: bool = False
    attempts: set[AttemptKey] = field(default_factory=set)
    outbox: asyncio.Queue[Command | None] = field(
        default_factory=lambda: asyncio.Queue(OUTBOX_SIZE)
    )
    closed: bool = False
    close_reason: str = ""
    clock_offset: ClockOffset = field(default_factory=ClockOffset)
    last_seen: datetime | None = None
    """When the last message came over the stream."""

    @property
    def free(self) -> int:
        return 0 if self.draining or self.closed else max(0, self.capacity - len(self.attempts))

    def send(self, command: Command) -> bool:
        """Queue a command for the stream; False if the session is gone or stuck."""
        if self.closed:
            return False
        try:
            self.outbox.put_nowait(command)
        except asyncio.QueueFull:
            log.warning("worker %s is not reading its stream; closing it", self.name)
            self.close("the worker did not read its stream")
            return False
        return True

    def close(self, reason: str = "closed by the orchestrator") -> None:
        """End the stream (``reason`` is recorded when it ends); no more work for it."""
        if not self.closed:
            self.closed = True
            self.close_reason = reason
            # Wake the stream so it ends; drop what it would never read.
            while not self.outbox.empty():
                self.outbox.get_nowait()
            self.outbox.put_nowait(None)
