"""Time as a dependency: what reads the time takes a :class:`Clock`.

Two readings, for two purposes: :meth:`Clock.now` is the wall clock (UTC), which
stamps events and against which the scheduler's deadlines (timeouts, cancel
back-stops) count, since those start at event times; :meth:`Clock.monotonic` never
jumps and times what lives only in memory (leases). :data:`SYSTEM_CLOCK` reads the
machine's clocks; tests pass a fake one they advance by hand.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start; never goes back."""
        ...


class SystemClock:
    """The machine's clocks."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK: Clock = SystemClock()
