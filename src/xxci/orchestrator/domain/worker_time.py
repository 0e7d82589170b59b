"""Times from where things happened: a worker's clock, read on the orchestrator's.

A worker stamps when a job started, when each step and the job ended, with its own
wall clock, at the moment it happens; a message sent again after an outage keeps its
stamp. It also sends its clock's reading with Hello and every heartbeat, and the
orchestrator compares that with its own on receipt.

**The offset.** A reading ``sent`` received at ``received`` (orchestrator clock) gives
``sent - received = offset - delay``, where ``offset`` is how far the worker's clock
is ahead and ``delay`` (>= 0) how long the message took. So every sample is a lower
bound of the offset, and the largest of the recent ones (:class:`ClockOffset`) is
the best estimate: too small by the quickest message's delay at most (milliseconds on
a working network), never by a slow one. A worker's clock that jumps is followed
within :data:`SAMPLES` heartbeats.

**Correcting a stamp** (:func:`happened_at`): the stamp minus the offset, then held
within what the orchestrator witnessed itself: not later than it received the
message (nothing is heard of before it happens), not earlier than the fact before it
(a job starts after it was assigned, ends after it started). Within that window a
corrected stamp is trusted; outside it, the bound is. So a worker whose clock is off,
or lies, can shift a time only within that window, and an older worker that stamps
nothing gets the time of receipt, as before.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

__all__ = ["SAMPLES", "ClockOffset", "event_time", "happened_at", "stamp_text"]

SAMPLES = 8
"""How many recent readings the offset is estimated from."""


class ClockOffset:
    """The offset of one worker's clock, estimated from its readings on one stream."""

    def __init__(self, samples: int = SAMPLES) -> None:
        self._samples: deque[float] = deque(maxlen=samples)

    def observe(self, sent: datetime | None, received: datetime) -> None:
        """A reading of the worker's clock (None: it sent none) received at ``received``."""
        if sent is not None:
            self._samples.append((sent - received).total_seconds())

    @property
    def known(self) -> bool:
        return bool(self._samples)

    @property
    def seconds(self) -> float:
        """How far the worker's clock is ahead of the orchestrator's (negative: behind);
        0 until a reading came."""
        return round(max(self._samples, default=0.0), 6)


def happened_at(
    stamp: datetime | None,
    offset: float,
    received: datetime,
    not_before: datetime | None = None,
) -> datetime:
    """When something the worker stamped ``stamp`` happened, on the orchestrator's
    clock: ``stamp - offset``, within ``[not_before, received]``; ``received`` when
    there is no stamp."""
    if stamp is None:
        return received
    at = min(stamp - timedelta(seconds=offset), received)
    if not_before is not None and at < not_before:
        at = min(not_before, received)
    return at


def stamp_text(stamp: datetime | None) -> str:
    """A worker's stamp as an event stores it ("" for none)."""
    return stamp.isoformat() if stamp is not None else ""


def event_time(
    worker_at: str, offset: float, recorded: datetime, not_before: datetime | None = None
) -> datetime:
    """:func:`happened_at` for an event's ``worker_at`` and ``clock_offset``, recorded
    at ``recorded``. A stamp that does not parse (or lacks a zone) counts as none."""
    stamp: datetime | None = None
    if worker_at:
        try:
            stamp = datetime.fromisoformat(worker_at)
        except ValueError:
            stamp = None
        if stamp is not None and stamp.tzinfo is None:
            stamp = None
    return happened_at(stamp, offset, recorded, not_before)
