"""Which worker holds which attempt, and until when.

Every attempt a worker runs has an owner, from its assignment (or its re-adoption
after a reconnect or a restart) until its end is known. A current attempt also has a
lease: a deadline on the clock's monotonic time, pushed ``ttl`` ahead by each of its
owner's heartbeats; once it passes, the attempt is lost. A worker whose stream closed
has its leases cut short (:meth:`Leases.cut_short`): it is lost sooner than a silent
one, and the lease says why. An attempt that is no longer current but still runs on
its worker (being stopped) has an owner and no lease: there is nothing left to lose,
but it takes a slot until the worker reports its end. These are connection facts,
kept in memory only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from xxci.common.attempts import AttemptKey
from xxci.common.clock import Clock

__all__ = ["Expired", "Leases"]


@dataclass(frozen=True)
class Expired:
    """A lease that ran out: the attempt, who held it, and why it ran out ("" when its
    owner just went silent)."""

    key: AttemptKey
    worker_id: str
    why: str = ""


class Leases:
    def __init__(self, clock: Clock, ttl: float) -> None:
        self._clock = clock
        self._ttl = ttl
        self._deadline: dict[AttemptKey, float] = {}
        self._owner: dict[AttemptKey, str] = {}
        self._why: dict[AttemptKey, str] = {}

    def grant(self, key: AttemptKey, worker_id: str, *, why: str = "") -> None:
        """``worker_id`` runs the current attempt ``key``: a fresh lease. ``why`` is
        what its running out would mean, if not that the worker went silent."""
        self._owner[key] = worker_id
        self._deadline[key] = self._clock.monotonic() + self._ttl
        self._set_why(key, why)

    def hold(self, key: AttemptKey, worker_id: str) -> None:
        """``worker_id`` still runs ``key``, which is not current any more: no lease."""
        self._owner[key] = worker_id
        self._deadline.pop(key, None)
        self._why.pop(key, None)

    def renew(self, worker_id: str, keys: Iterable[AttemptKey]) -> None:
        """A heartbeat of ``worker_id`` naming ``keys``: renew those it holds a lease on."""
        deadline = self._clock.monotonic() + self._ttl
        for key in keys:
            if key in self._deadline and self._owner.get(key) == worker_id:
                self._deadline[key] = deadline
                self._why.pop(key, None)

    def cut_short(self, worker_id: str, seconds: float, why: str) -> list[AttemptKey]:
        """``worker_id`` went away: each lease it holds runs out within ``seconds`` (or
        sooner, as it would have), for the reason ``why``. Returns those leases."""
        deadline = self._clock.monotonic() + seconds
        keys = self.held_by(worker_id)
        for key in keys:
            self._deadline[key] = min(self._deadline[key], deadline)
            self._why[key] = why
        return keys

    def release(self, key: AttemptKey) -> str | None:
        """The attempt's end is known: forget it. Returns who held it."""
        self._deadline.pop(key, None)
        self._why.pop(key, None)
        return self._owner.pop(key, None)

    def expired(self) -> list[Expired]:
        """Every lease that has run out, oldest deadline first."""
        now = self._clock.monotonic()
        ended = sorted((d, k) for k, d in self._deadline.items() if d <= now)
        return [Expired(key, self._owner.get(key, ""), self._why.get(key, "")) for _, key in ended]

    def next_deadline(self) -> float | None:
        """When the next lease runs out (monotonic time), if any lease is held."""
        return min(self._deadline.values(), default=None)

    def owner_of(self, key: AttemptKey) -> str | None:
        return self._owner.get(key)

    def deadline(self, key: AttemptKey) -> float | None:
        """When the attempt's lease runs out, if it has one."""
        return self._deadline.get(key)

    def held_by(self, worker_id: str) -> list[AttemptKey]:
        """The attempts ``worker_id`` holds a lease on, in order."""
        return sorted(k for k in self._deadline if self._owner.get(k) == worker_id)

    def owned_by(self, worker_id: str) -> list[AttemptKey]:
        """Every attempt ``worker_id`` holds, with a lease or without, in order."""
        return sorted(k for k, owner in self._owner.items() if owner == worker_id)

    def _set_why(self, key: AttemptKey, why: str) -> None:
        if why:
            self._why[key] = why
        else:
            self._why.pop(key, None)
