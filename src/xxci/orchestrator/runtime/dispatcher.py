"""Handing queued jobs to connected workers with free slots.

The matching itself is the pure :func:`~xxci.orchestrator.domain.dispatch.match`; the
dispatcher gathers its inputs (the QUEUED jobs of the active runs, the sessions with
free slots), records each offer as ``JobAssigned`` (only if the job is still QUEUED
and unassigned when the event is appended; with ``SecretsGiven`` naming the secrets
the attempt gets), gives the attempt a slot and a lease in the hub, and queues the
:class:`~xxci.orchestrator.domain.messages.Assign` command, with the secrets' values
from the secret store, on the worker's session. One dispatch runs at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from xxci.common.attempts import AttemptKey
from xxci.common.events import Event, JobAssigned, SecretsGiven
from xxci.common.job_extras import GivenSecret
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
from xxci.orchestrator.store import SecretStorage

__all__ = ["Dispatcher"]

log = logging.getLogger("xxci.orchestrator")


class Dispatcher:
    """``may_hold(resource)``: whether this orchestrator may hand out jobs of that
    resource group. Several orchestrators on one store each see a group free at the
    same moment, and their appends go to different runs' streams, which no version
    check arbitrates; so one of them (the group's owner) hands out its jobs. Each
    assignment carries ``limits`` (its output and artifact sizes; None: the worker's
    own). ``secrets``: where the values of the secrets a job asks for come from."""

    def __init__(
        self,
        runs: RunBook,
        hub: Hub,
        may_hold: Callable[[str], bool] = lambda _r: True,
        limits: Limits | None = None,
        secrets: SecretStorage | None = None,
    ) -> None:
        self._runs = runs
        self._hub = hub
        self._may_hold = may_hold
        self._limits = limits
        self._secrets = secrets
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

    async def _secret_values(self, run_id: str, job: str) -> dict[str, bytes]:
        """The values of the secrets ``job`` asks for (those the store has)."""
        if self._secrets is None:
            return {}
        state = await self._runs.get(run_id)
        names = [s.name for s in state.pipeline.job(job).secrets]
        return await self._secrets.values(state.pipeline.name, names) if names else {}

    async def _assign(self, run_id: str, job: str, session: WorkerSession) -> bool:
        chosen: list[int] = []
        values = await self._secret_values(run_id, job)

        def make(state: RunState) -> list[Event]:
            chosen.clear()  # a retry after a conflict decides afresh
            js = state.jobs.get(job)
            if js is None or js.status is not JobStatus.QUEUED or js.worker_id:
                return []
            chosen[:] = [js.attempt]
            events: list[Event] = [
                JobAssigned(
                    job=job,
                    attempt=js.attempt,
                    worker_id=session.worker_id,
                    worker_name=session.name,
                    lease_seconds=self._hub.settings.lease_ttl,
                )
            ]
            if values:
                events.append(SecretsGiven(job=job, attempt=js.attempt, names=tuple(values)))
            return events

        state = await self._runs.record_if(run_id, make)
        if not chosen:
            return False
        key = AttemptKey(run_id, job, chosen[0])
        self._hub.take(session, key)
        command = assignment(state, job, key.attempt, self._limits)
        if command.secrets:
            command = replace(command, secrets=_with_values(command.secrets, values))
        if not session.send(command):
            log.warning("could not hand %s to worker %s", key, session.name)
        return True


def _with_values(
    secrets: tuple[GivenSecret, ...], values: dict[str, bytes]
) -> tuple[GivenSecret, ...]:
    return tuple(
        replace(s, value=values[s.name], missing=False) if s.name in values else s for s in secrets
    )
