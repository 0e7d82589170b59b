"""How many refused connections are recorded per worker: a budget. Pure.

Every refused connection that claimed a registered worker's identity is an incident
worth an event on that worker's stream, but the one who knocks need not hold the
shared token (a credential-shaped bearer reaches the stream's own check), so without
a bound anyone who learnt a worker id could grow the log at will. At most ``burst``
incidents are recorded per worker in any ``window`` seconds; the rest are refused all
the same and only counted, and the next one recorded says how many were left out.
"""

from __future__ import annotations

from collections import deque

__all__ = ["IncidentBudget"]


class IncidentBudget:
    """A sliding window of recorded incidents per worker (times in monotonic seconds)."""

    def __init__(self, burst: int = 10, window: float = 60.0) -> None:
        if burst < 1 or window <= 0:
            raise ValueError("burst must be at least 1 and window positive")
        self.burst = burst
        self.window = window
        self._recorded: dict[str, deque[float]] = {}
        self._left_out: dict[str, int] = {}

    def take(self, worker_id: str, now: float) -> int | None:
        """Whether an incident of ``worker_id`` at ``now`` is recorded: None if not (it
        is counted), else how many were left out since the last one recorded."""
        times = self._recorded.setdefault(worker_id, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.burst:
            self._left_out[worker_id] = self._left_out.get(worker_id, 0) + 1
            return None
        times.append(now)
        return self._left_out.pop(worker_id, 0)
