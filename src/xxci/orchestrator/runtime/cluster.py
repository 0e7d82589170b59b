"""This orchestrator among the others serving one shared store (active-active).

Every orchestrator on a shared store (PostgreSQL) serves clients and the workers
connected to it, and sees every run: its run book follows the log
(:mod:`~xxci.orchestrator.runtime.follower`). What is whose:

* a job is assigned by the orchestrator its worker is connected to; two offering the
  same job cannot both append ``JobAssigned`` (the stream's version arbitrates);
* an attempt's lease is kept by the orchestrator its worker is connected to (its
  *home*, recorded in the store), which renews it on the worker's heartbeats and
  expires it when they stop;
* time-based decisions of a run (timeouts, back-stops, delayed jobs) are driven by
  one orchestrator, its *owner* by rendezvous hashing over the live ones
  (:func:`~xxci.orchestrator.domain.placement.run_owner`);
* jobs of a ``resource_group`` are handed out by the group's owner only (to its own
  workers): the group is free or held across runs, which no stream's version
  arbitrates.

:meth:`Cluster.sync`, once a tick, keeps that true: it beats (the store's
``orchestrators`` row), records the homes of this orchestrator's workers, hands over
the lease of an attempt whose worker came home elsewhere, and gives a fresh lease to
every assigned attempt of a run it owns whose worker has no live home (its
orchestrator died, or it was never back after a restart): if the worker reconnects
to any orchestrator in time it re-adopts the attempt there, otherwise the lease
runs out and the attempt is lost and queued again, as after a worker's death. An
attempt whose worker is at home here but did not re-adopt it (it was assigned by an
orchestrator that died before the assignment reached the worker) gets a lease too,
which the worker's heartbeats never renew: it is lost and queued again.
"""

from __future__ import annotations

import logging

from xxci.common.attempts import AttemptKey
from xxci.common.clock import Clock
from xxci.orchestrator.domain.placement import run_owner
from xxci.orchestrator.domain.settings import Settings
from xxci.orchestrator.runtime.hub import Hub
from xxci.orchestrator.runtime.runs import RunBook
from xxci.orchestrator.store.ports import Membership

__all__ = ["Cluster"]

log = logging.getLogger("xxci.orchestrator")


class Cluster:
    """The membership of orchestrator ``me`` (listening at ``address``)."""

    def __init__(
        self,
        me: str,
        address: str,
        members: Membership,
        hub: Hub,
        runs: RunBook,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self.me = me
        self.address = address
        self._members = members
        self._hub = hub
        self._runs = runs
        self._settings = settings
        self._clock = clock
        self.alive: list[str] = [me]
        self._advertised: set[str] = set()
        self._last_sync: float | None = None

    def owns(self, run_id: str) -> bool:
        """Whether this orchestrator drives ``run_id``'s time-based decisions."""
        return run_owner(run_id, self.alive) == self.me

    def holds(self, resource: str) -> bool:
        """Whether this orchestrator hands out the jobs of ``resource`` (a resource
        group): one does, so two cannot each start one of its jobs at once."""
        return run_owner(f"resource\x1f{resource}", self.alive) == self.me

    async def sync_if_due(self, force: bool = False) -> None:
        """:meth:`sync` if a tick has passed since the last one, a worker connected or
        left meanwhile (its home is recorded at once), or ``force``."""
        now = self._clock.monotonic()
        connected = {s.worker_id for s in self._hub.sessions() if not s.closed}
        due = self._last_sync is None or now - self._last_sync >= self._settings.tick
        if force or due or connected != self._advertised:
            self._last_sync = now
            await self.sync()

    async def sync(self) -> None:
        """Beat, record homes, hand over and take over leases (see the module docstring)."""
        now = self._clock.now().timestamp()
        await self._members.beat(self.me, self.address, now)
        alive = {m.id for m in await self._members.members(now - self._settings.member_ttl)}
        gone = set(self.alive) - alive - {self.me}
        if gone:
            log.warning("orchestrator(s) %s stopped beating; taking over", ", ".join(sorted(gone)))
        self.alive = sorted(alive | {self.me})
        connected = {s.worker_id for s in self._hub.sessions() if not s.closed}
        for worker_id in sorted(connected - self._advertised):
            await self._members.set_home(worker_id, self.me, now)
        for worker_id in sorted(self._advertised - connected):
            await self._members.clear_home(worker_id, self.me)
        self._advertised = connected
        homes = await self._members.homes()
        for state in self._runs.active():
            for js in state.jobs.values():
                if not js.worker_id or js.attempt < 1 or js.status.finished:
                    continue
                key = AttemptKey(state.run_id, js.name, js.attempt)
                held = self._hub.owner_of(key) is not None
                home = homes.get(js.worker_id)
                if home == self.me:
                    if not held:  # assigned here, but the worker came back without it
                        self._hub.leases.grant(key, js.worker_id)
                    continue
                if home is not None and home in self.alive:
                    if held and self._hub.session(js.worker_id) is None:
                        self._hub.release(key)  # the worker came home elsewhere: theirs now
                    continue
                if not held and self.owns(state.run_id):
                    log.info(
                        "adopting %s: its worker %s has no live orchestrator", key, js.worker_id
                    )
                    self._hub.leases.grant(
                        key, js.worker_id, why=f"worker {js.worker_id} lost with its orchestrator"
                    )

    async def leave(self) -> None:
        """This orchestrator stops: the others take over at once."""
        try:
            await self._members.leave(self.me)
        except Exception:
            log.exception("could not say this orchestrator stops; the others will notice")
