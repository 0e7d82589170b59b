"""Connected workers: sessions, leases, and handing queued jobs to them.

A worker holds one stream; its :class:`WorkerSession` owns a bounded outbox that the
stream drains. The hub offers QUEUED jobs to sessions with free capacity and the
required labels (the matching itself is the pure :func:`dispatch.match`), records each
offer as ``JobAssigned`` with a lease, renews leases on heartbeats, and records
``JobAttemptLost`` for an attempt whose lease runs out. Sessions, leases and capacity
are connection facts, not run state: they live in memory and are rebuilt as workers
reconnect and re-announce what they run.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from xxci.common.attempts import AttemptKey
from xxci.common.clock import SYSTEM_CLOCK, Clock
from xxci.common.errors import ConflictError
from xxci.common.events import (
    Event,
    JobAssigned,
    JobAttemptLost,
    WorkerConnected,
    WorkerDisconnected,
    worker_stream,
)
from xxci.common.pb.v1 import worker_pb2
from xxci.common.status import JobStatus
from xxci.orchestrator.domain.dispatch import QueuedJob, WorkerSlot, match
from xxci.orchestrator.domain.lookup import cancel_requested_at
from xxci.orchestrator.domain.settings import Settings
from xxci.orchestrator.domain.state import RunState
from xxci.orchestrator.runtime.assignment import build_assignment
from xxci.orchestrator.runtime.runs import RunBook
from xxci.orchestrator.store import EventStorage
from xxci.orchestrator.store.conflicts import retry_on_conflict

log = logging.getLogger("xxci.orchestrator")

OUTBOX_SIZE = 256


@dataclass(eq=False)
class WorkerSession:
    """One live stream of one worker."""

    worker_id: str
    name: str
    capacity: int
    labels: frozenset[str]
    peer: str = ""
    draining: bool = False
    attempts: set[AttemptKey] = field(default_factory=set)
    outbox: asyncio.Queue[worker_pb2.OrchestratorMessage | None] = field(
        default_factory=lambda: asyncio.Queue(OUTBOX_SIZE)
    )
    closed: bool = False
    close_reason: str = ""

    @property
    def free(self) -> int:
        return 0 if self.draining or self.closed else max(0, self.capacity - len(self.attempts))

    def send(self, message: worker_pb2.OrchestratorMessage) -> bool:
        """Queue a message for the stream; False if the session is gone or stuck."""
        if self.closed:
            return False
        try:
            self.outbox.put_nowait(message)
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


class Hub:
    """Worker sessions and job dispatch for one orchestrator."""

    def __init__(
        self,
        runs: RunBook,
        store: EventStorage,
        settings: Settings,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._runs = runs
        self._store = store
        self.settings = settings
        self._clock = clock
        self._sessions: dict[str, WorkerSession] = {}
        self._leases: dict[AttemptKey, float] = {}
        self._owner: dict[AttemptKey, str] = {}
        self._kick = asyncio.Event()
        self._dispatch_lock = asyncio.Lock()

    # --- sessions ------------------------------------------------------------------

    def sessions(self) -> list[WorkerSession]:
        return sorted(self._sessions.values(), key=lambda s: s.name)

    async def connect(self, hello: worker_pb2.Hello, peer: str) -> WorkerSession:
        """Register a worker's stream. A worker that comes back with its old id takes
        over its session (the old stream is closed): the newest connection wins.

        The attempts the worker says it still runs are re-adopted before the session
        is registered: until then dispatch must not see it, or it would count the
        worker's busy slots as free and hand it work it can only reject.
        """
        worker_id = hello.worker_id or uuid.uuid4().hex[:12]
        old = self._sessions.pop(worker_id, None)
        if old is not None:
            old.close("replaced by a newer connection")
        session = WorkerSession(
            worker_id=worker_id,
            name=hello.name or worker_id,
            capacity=max(1, hello.capacity),
            labels=frozenset(hello.labels),
            peer=peer,
        )
        for ref in hello.running:
            await self._readopt(session, AttemptKey(ref.run_id, ref.job, ref.attempt))
        meanwhile = self._sessions.pop(worker_id, None)  # connected during the awaits
        if meanwhile is not None:
            meanwhile.close("replaced by a newer connection")
        self._sessions[worker_id] = session
        await self.record_worker_event(
            worker_id,
            WorkerConnected(
                worker_id=worker_id,
                name=session.name,
                capacity=session.capacity,
                labels=tuple(sorted(session.labels)),
                version=hello.version,
                peer=peer,
            ),
        )
        self.kick()
        return session

    async def disconnect(self, session: WorkerSession, reason: str) -> None:
        session.close()
        if self._sessions.get(session.worker_id) is session:
            del self._sessions[session.worker_id]
            await self.record_worker_event(
                session.worker_id, WorkerDisconnected(worker_id=session.worker_id, reason=reason)
            )
        # Its attempts keep their leases: a worker that reconnects in time re-adopts them.

    async def _readopt(self, session: WorkerSession, key: AttemptKey) -> None:
        try:
            state = await self._runs.get(key.run_id)
        except Exception:
            state = None
        js = state.jobs.get(key.job) if state is not None else None
        owner = self._owner.get(key)
        if (
            js is not None
            and js.attempt == key.attempt
            and not js.status.finished
            and owner in (None, session.worker_id)
        ):
            session.attempts.add(key)
            self._owner[key] = session.worker_id
            self._leases[key] = self._clock.monotonic() + self.settings.lease_ttl
            if state is not None and cancel_requested_at(state, js) is not None:
                # A CancelJob sent on the stream that broke may never have arrived, and
                # the orchestrator does not send one twice: send it on this one.
                session.send(self._cancel_message(key, "canceled"))
            return
        # Not current any more (lost and re-queued, or canceled): stop it on the worker.
        session.send(self._cancel_message(key, "this attempt is no longer current"))
        if owner in (None, session.worker_id):
            # Stopping takes a while (SIGTERM, grace): until the worker reports the end
            # (JobFinished or Reject, which release it), it still takes one of its slots.
            # No lease: the attempt is not current, there is nothing left to lose.
            session.attempts.add(key)
            self._owner[key] = session.worker_id

    def _cancel_message(self, key: AttemptKey, reason: str) -> worker_pb2.OrchestratorMessage:
        return worker_pb2.OrchestratorMessage(
            cancel=worker_pb2.CancelJob(
                ref=worker_pb2.AttemptRef(run_id=key.run_id, job=key.job, attempt=key.attempt),
                grace_seconds=self.settings.cancel_grace,
                reason=reason,
            )
        )

    def adopt_orphans(self, state: RunState) -> None:
        """After a restart: give every assigned, unfinished attempt of ``state`` a fresh
        lease held by the worker it was assigned to, so that worker can re-adopt it."""
        deadline = self._clock.monotonic() + self.settings.lease_ttl
        for js in state.jobs.values():
            if js.worker_id and not js.status.finished and js.attempt > 0:
                key = AttemptKey(state.run_id, js.name, js.attempt)
                self._owner[key] = js.worker_id
                self._leases[key] = deadline

    def heartbeat(self, session: WorkerSession, running: Iterable[AttemptKey]) -> None:
        deadline = self._clock.monotonic() + self.settings.lease_ttl
        for key in running:
            if key in self._leases and self._owner.get(key) == session.worker_id:
                self._leases[key] = deadline

    def set_draining(self, session: WorkerSession) -> None:
        session.draining = True

    def owner_of(self, key: AttemptKey) -> str | None:
        return self._owner.get(key)

    def lease_deadline(self, key: AttemptKey) -> float | None:
        """When the attempt's lease runs out (on the clock's monotonic time), if it has one."""
        return self._leases.get(key)

    def leases_of(self, worker_id: str) -> list[AttemptKey]:
        """The attempts ``worker_id`` holds a lease on, in order."""
        return sorted(k for k in self._leases if self._owner.get(k) == worker_id)

    def release(self, key: AttemptKey) -> None:
        """The attempt ended: free its slot and forget its lease."""
        self._leases.pop(key, None)
        worker_id = self._owner.pop(key, None)
        session = self._sessions.get(worker_id) if worker_id else None
        if session is not None:
            session.attempts.discard(key)
        self.kick()

    # --- cancel ---------------------------------------------------------------------

    def send_cancel(self, key: AttemptKey, reason: str) -> bool:
        worker_id = self._owner.get(key)
        session = self._sessions.get(worker_id) if worker_id else None
        if session is None:
            return False
        return session.send(self._cancel_message(key, reason))

    # --- dispatch -------------------------------------------------------------------

    def kick(self) -> None:
        """Ask the dispatch loop to look for work to hand out."""
        self._kick.set()

    async def wait_kick(self, timeout: float) -> None:  # noqa: ASYNC109 - a tick, not a deadline
        try:
            async with asyncio.timeout(timeout):
                await self._kick.wait()
        except TimeoutError:
            pass
        self._kick.clear()

    async def dispatch(self) -> int:
        """Offer queued jobs to free workers; returns how many were assigned."""
        async with self._dispatch_lock:
            queued: list[QueuedJob] = []
            for state in self._runs.active():
                for js in state.jobs.values():
                    if js.status is JobStatus.QUEUED and not js.worker_id:
                        spec = state.pipeline.job(js.name)
                        queued.append(
                            QueuedJob(
                                run_id=state.run_id,
                                job=js.name,
                                tags=frozenset(spec.tags),
                                order=js.queued_seq,
                            )
                        )
            slots = [
                WorkerSlot(worker_id=s.worker_id, free=s.free, labels=s.labels)
                for s in self._sessions.values()
                if s.free > 0
            ]
            if not queued or not slots:
                return 0
            assigned = 0
            for run_id, job, worker_id in match(queued, slots):
                session = self._sessions.get(worker_id)
                if session is None or session.free <= 0:
                    continue
                if await self._assign(run_id, job, session):
                    assigned += 1
            return assigned

    async def _assign(self, run_id: str, job: str, session: WorkerSession) -> bool:
        chosen: dict[str, int] = {}

        def make(state: RunState) -> list[Event]:
            js = state.jobs.get(job)
            if js is None or js.status is not JobStatus.QUEUED or js.worker_id:
                return []
            chosen["attempt"] = js.attempt
            return [
                JobAssigned(
                    job=job,
                    attempt=js.attempt,
                    worker_id=session.worker_id,
                    worker_name=session.name,
                    lease_seconds=self.settings.lease_ttl,
                )
            ]

        state = await self._runs.record_if(run_id, make)
        if "attempt" not in chosen:
            return False
        key = AttemptKey(run_id, job, chosen["attempt"])
        session.attempts.add(key)
        self._owner[key] = session.worker_id
        self._leases[key] = self._clock.monotonic() + self.settings.lease_ttl
        message = build_assignment(state, job, chosen["attempt"])
        if not session.send(worker_pb2.OrchestratorMessage(assign=message)):
            log.warning("could not hand %s/%s to worker %s", run_id, job, session.name)
        return True

    async def expire_leases(self) -> None:
        """Record ``JobAttemptLost`` for every attempt whose lease ran out.

        If the worker still holds a stream, that stream is dead or the worker stuck
        (silent for a whole lease): it is closed, so no more work is handed to it. A
        worker that is alive after all reconnects and, naming the lost attempt in its
        Hello, is told to stop it.
        """
        now = self._clock.monotonic()
        for key, deadline in list(self._leases.items()):
            if deadline > now:
                continue
            run_id, job, attempt = key.run_id, key.job, key.attempt
            worker_id = self._owner.get(key, "")
            session = self._sessions.get(worker_id)
            self.release(key)
            if session is not None:
                session.close("lease expired: the worker stopped answering")

            def make(state: RunState, job: str = job, attempt: int = attempt) -> list[Event]:
                js = state.jobs.get(job)
                if js is None or js.attempt != attempt or js.status.finished:
                    return []
                return [JobAttemptLost(job=job, attempt=attempt, reason="lease expired")]

            log.warning(
                "attempt %s of %s in run %s lost: worker %s stopped answering",
                attempt,
                job,
                run_id,
                worker_id,
            )
            await self._runs.record_if(run_id, make)

    async def record_worker_event(self, worker_id: str, event: Event) -> None:
        """Append ``event`` at the end of the worker's stream (its own audit trail)."""
        stream = worker_stream(worker_id)

        async def attempt(_again: bool) -> None:
            version = await self._store.stream_version(stream)
            await self._store.append(stream, version, [event], at=self._clock.now())

        try:
            await retry_on_conflict(attempt, f"worker {worker_id}")
        except ConflictError:
            log.error("could not record %s for worker %s", event.type, worker_id)
