"""A clock that stands still until the test moves it.

:class:`FakeClock` implements :class:`xxci.common.clock.Clock`: both of its readings
start at a fixed point and move only by :meth:`FakeClock.advance`, together, so a test
says exactly how much time passes (a lease runs out, a timeout is reached) without
waiting for it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["START", "FakeClock"]

START = datetime(2024, 1, 1, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime = START) -> None:
        if start.tzinfo is None:
            raise ValueError("the start of a clock must be timezone-aware")
        self._start = start.astimezone(UTC)
        self._elapsed = 0.0

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass (never backwards)."""
        if seconds < 0:
            raise ValueError("time does not go back")
        self._elapsed += seconds
