"""Handing queued jobs to connected workers with free slots.

The matching itself is the pure :func:`~xxci.orchestrator.domain.dispatch.match`; the
dispatcher gathers its inputs (the QUEUED jobs of the active runs, the sessions with
free slots), records each offer as ``JobAssigned`` (only if the job is still QUEUED
and unassigned when the event is appended), gives the attempt a slot and a lease in
the hub, and queues the :class:`~xxci.orchestrator.domain.messages.Assign` command on
the worker's session. One dispatch runs at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from xxci.common.attempts import AttemptKey
from xxci.common.events import Event, JobAssigned
from xxci.common.status import JobStatus
from xxci.orchestrator.domain.assignment import assignment
from xxci.orchestrator.domain.dispatch import (
    QueuedJob,
    WorkerSlot,
    match,
    required_labels,
    resource_key,
)
from xxci.orchestrator.domain.limits import Limits
from xxci.orchestrator.domain.state import RunState
from xxci.orchestrator.runtime.hub import Hub
from xxci.orchestrator.runtime.runs import RunBook
from xxci.orchestrator.runtime.sessions import WorkerSession

__all__ = ["Dispatcher"]

log = logging.getLogger("xxci.orchestrator")


class Dispatcher:
    """``may_hold(resource)``: whether this orchestrator may hand out jobs of that
    resource group. Several orchestrators on one store each see a group free at the
    same moment, and their appends go to different runs' streams, which no version
    check arbitrates; so one of them (the group's owner) hands out its jobs. Each
    assignment carries ``limits`` (its output and artifact sizes; None: the worker's
    own)."""

    def __init__(
        self,
        runs: RunBook,
        hub: Hub,
        may_hold: Callable[[str], bool] = lambda _r: True,
        limits: Limits | None = None,
    ) -> None:
        self._runs = runs
        self._hub = hub
        self._may_hold = may_hold
        self._limits = limits
        self._lock = asyncio.Lock()

    async def dispatch(self) -> int:
        """Offer queued jobs to free workers; returns how many were assigned."""
        async with self._lock:
            queued = [
                job for job in self._queued() if not job.resource or self._may_hold(job.resource)
            ]
            busy = [
                resource_key(state.repo, state.specs[js.name].resource_group)
                for state in self._runs.active()
                for js in state.jobs.values()
                if js.status is JobStatus.RUNNING and state.specs[js.name].resource_group
            ]
            slots = [
                WorkerSlot(s.worker_id, s.free, s.labels) for s in self._hub.sessions() if s.free
            ]
            if not queued or not slots:
                return 0
            assigned = 0
            for run_id, job, worker_id in match(queued, slots, busy):
                session = self._hub.session(worker_id)  # it may have gone meanwhile
                if session is not None and session.free > 0:
                    assigned += await self._assign(run_id, job, session)
            return assigned

    def _queued(self) -> list[QueuedJob]:
        return [
            QueuedJob(
                run_id=state.run_id,
                job=js.name,
                tags=required_labels(state.pipeline.job(js.name).tags, state.local),
                order=js.queued_seq,
                resource=resource_key(state.repo, state.specs[js.name].resource_group),
            )
            for state in self._runs.active()
            for js in state.jobs.values()
            if js.status is JobStatus.QUEUED and not js.worker_id
        ]

    async def _assign(self, run_id: str, job: str, session: WorkerSession) -> bool:
        chosen: list[int] = []

        def make(state: RunState) -> list[Event]:
            chosen.clear()  # a retry after a conflict decides afresh
            js = state.jobs.get(job)
            if js is None or js.status is not JobStatus.QUEUED or js.worker_id:
                return []
            chosen[:] = [js.attempt]
            return [
                JobAssigned(
                    job=job,
                    attempt=js.attempt,
                    worker_id=session.worker_id,
                    worker_name=session.name,
                    lease_seconds=self._hub.settings.lease_ttl,
                )
            ]

        state = await self._runs.record_if(run_id, make)
        if not chosen:
            return False
        key = AttemptKey(run_id, job, chosen[0])
        self._hub.take(session, key)
        if not session.send(assignment(state, job, key.attempt, self._limits)):
            log.warning("could not hand %s to worker %s", key, session.name)
        return True
