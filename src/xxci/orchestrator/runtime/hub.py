"""Connected workers: their sessions, the leases on what they run, and their losses.

A worker holds one stream; its :class:`~xxci.orchestrator.runtime.sessions.WorkerSession`
queues the commands the stream sends. The hub registers sessions (the newest
connection of a worker wins), re-adopts what a returning worker still runs, renews
leases on heartbeats, records ``JobAttemptLost`` for an attempt whose lease runs out,
and sends cancels. Handing out work is the
:class:`~xxci.orchestrator.runtime.dispatcher.Dispatcher`'s. Sessions, leases and
capacity are connection facts, not run state: they live in memory and are rebuilt as
workers reconnect and re-announce what they run.

Loss is fast and fenced. A worker whose stream closes keeps its attempts for
``settings.disconnect_grace`` (a blip), a silent one for the lease; then each attempt
is lost (``JobAttemptLost`` says which worker and why) and queued again. A worker that
names an attempt that is no longer its own (in its Hello or a heartbeat) is sent a
revoking cancel: it kills the attempt's container at once, without a grace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from xxci.common.attempts import AttemptKey
from xxci.common.clock import SYSTEM_CLOCK, Clock
from xxci.common.errors import ConflictError
from xxci.common.events import (
    Event,
    JobAttemptLost,
    WorkerConnected,
    WorkerDisconnected,
    worker_stream,
)
from xxci.orchestrator.domain.lookup import cancel_requested_at
from xxci.orchestrator.domain.messages import Cancel, Hello
from xxci.orchestrator.domain.settings import Settings
from xxci.orchestrator.domain.state import RunState
from xxci.orchestrator.runtime.leases import Leases
from xxci.orchestrator.runtime.runs import RunBook
from xxci.orchestrator.runtime.sessions import WorkerSession
from xxci.orchestrator.store import EventStorage
from xxci.orchestrator.store.conflicts import retry_on_conflict

__all__ = ["Hub"]

log = logging.getLogger("xxci.orchestrator")

CLOCK_OFFSET_WARNING = 2.0
"""A worker's clock off by this many seconds or more is worth a line in the log."""


class Hub:
    """Worker sessions and leases of one orchestrator. ``wake()`` is called whenever a
    slot may have come free (a worker connected, an attempt ended)."""

    def __init__(
        self,
        runs: RunBook,
        store: EventStorage,
        settings: Settings,
        clock: Clock = SYSTEM_CLOCK,
        *,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self._runs = runs
        self._store = store
        self.settings = settings
        self._clock = clock
        self._wake = wake
        self._sessions: dict[str, WorkerSession] = {}
        self._names: dict[str, str] = {}
        self.leases = Leases(clock, settings.lease_ttl)

    # --- sessions ------------------------------------------------------------------

    def sessions(self) -> list[WorkerSession]:
        return sorted(self._sessions.values(), key=lambda s: s.name)

    def session(self, worker_id: str) -> WorkerSession | None:
        return self._sessions.get(worker_id)

    def is_current(self, session: WorkerSession) -> bool:
        """Whether ``session`` is its worker's live stream (not replaced, not closed):
        only what comes over that stream speaks for the worker."""
        return not session.closed and self._sessions.get(session.worker_id) is session

    async def connect(
        self, worker_id: str, hello: Hello, peer: str, received: datetime | None = None
    ) -> WorkerSession:
        """Register the stream of ``worker_id`` (admitted: it proved to be that
        worker), whose Hello arrived at ``received`` (default: now; its clock reading is
        measured against that). A worker that connects again takes over its session
        (the old stream is closed): the newest connection wins.

        The attempts the worker says it still runs are re-adopted before the session
        is registered: until then dispatch must not see it, or it would count the
        worker's busy slots as free and hand it work it can only reject.
        """
        self._replace(worker_id)
        session = WorkerSession(
            worker_id=worker_id,
            name=hello.name or worker_id,
            capacity=max(1, hello.capacity),
            labels=frozenset(hello.labels),
            peer=peer,
        )
        self._names[worker_id] = session.name
        session.clock_offset.observe(hello.sent_at, received or self._clock.now())
        self._report_offset(session)
        for key in hello.running:
            await self._readopt(session, key)
        self._replace(worker_id)  # it connected again during the awaits
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
                clock_offset=session.clock_offset.seconds,
            ),
        )
        self._wake()
        return session

    def _replace(self, worker_id: str) -> None:
        old = self._sessions.pop(worker_id, None)
        if old is not None:
            old.close("replaced by a newer connection")

    async def disconnect(self, session: WorkerSession, reason: str) -> None:
        """The session's stream ended. Unless a newer connection of the worker replaced
        it, its attempts stay its own for the disconnect grace only: a worker that
        reconnects in time re-adopts them, otherwise they are lost."""
        session.close()
        if self._sessions.get(session.worker_id) is session:
            del self._sessions[session.worker_id]
            self.leases.cut_short(
                session.worker_id,
                self.settings.disconnect_grace,
                f"worker {session.name} disconnected",
            )
            self._wake()  # the loop times its next round by the nearest deadline
            await self.record_worker_event(
                session.worker_id, WorkerDisconnected(worker_id=session.worker_id, reason=reason)
            )

    async def _readopt(self, session: WorkerSession, key: AttemptKey) -> None:
        try:
            state: RunState | None = await self._runs.current(key.run_id)
        except Exception:  # an unknown run, or one that cannot be read: not current
            state = None
        js = state.jobs.get(key.job) if state is not None else None
        owner = self.leases.owner_of(key)
        mine = owner in (None, session.worker_id)
        current = js is not None and js.attempt == key.attempt and not js.status.finished
        if state is not None and js is not None and current and mine:
            session.attempts.add(key)
            self.leases.grant(key, session.worker_id)
            if cancel_requested_at(state, js) is not None:
                # A CancelJob sent on the stream that broke may never have arrived, and
                # the orchestrator does not send one twice: send it on this one.
                session.send(self._cancel(key, "canceled"))
            return
        # Not current any more (lost and re-queued, or canceled): the worker must stop
        # it at once, whatever grace a cancel would give, since another may run it now.
        session.send(self._revoke(key))
        if mine:
            # Killing it takes a moment: until the worker reports the end (JobFinished or
            # Reject, which release it), it still takes one of its slots.
            session.attempts.add(key)
            self.leases.hold(key, session.worker_id)

    @staticmethod
    def _report_offset(session: WorkerSession) -> None:
        offset = session.clock_offset.seconds
        if abs(offset) >= CLOCK_OFFSET_WARNING:
            way = "ahead of" if offset > 0 else "behind"
            log.warning(
                "the clock of worker %s is %.1fs %s the orchestrator's: its times are corrected",
                session.name,
                abs(offset),
                way,
            )

    def set_draining(self, session: WorkerSession) -> None:
        session.draining = True

    def take(self, session: WorkerSession, key: AttemptKey) -> None:
        """The session's worker was handed ``key``: it takes a slot and a lease."""
        session.attempts.add(key)
        self.leases.grant(key, session.worker_id)

    def release(self, key: AttemptKey) -> None:
        """The attempt ended: free its slot and forget its lease."""
        worker_id = self.leases.release(key)
        session = self._sessions.get(worker_id) if worker_id else None
        if session is not None:
            session.attempts.discard(key)
        self._wake()

    # --- leases ---------------------------------------------------------------------

    def adopt_orphans(self, state: RunState) -> None:
        """After a restart: give every assigned, unfinished attempt of ``state`` a fresh
        lease held by the worker it was assigned to, so that worker can re-adopt it."""
        for js in state.jobs.values():
            if js.worker_id and not js.status.finished and js.attempt > 0:
                name = js.worker_name or js.worker_id
                self._names.setdefault(js.worker_id, name)
                self.leases.grant(
                    AttemptKey(state.run_id, js.name, js.attempt),
                    js.worker_id,
                    why=f"worker {name} did not come back after the orchestrator restarted",
                )

    def heartbeat(
        self, session: WorkerSession, running: Iterable[AttemptKey], sent_at: datetime | None
    ) -> None:
        """Renew the leases of what the worker runs; revoke what it runs that is no
        longer its own (lost while it was away, and maybe given to another). ``sent_at``
        is the worker's clock when it sent the heartbeat."""
        session.clock_offset.observe(sent_at, self._clock.now())
        running = list(running)
        self.leases.renew(session.worker_id, running)
        for key in running:
            if key not in session.attempts and self.leases.owner_of(key) != session.worker_id:
                log.info("worker %s still runs %s, which is not its own", session.name, key)
                session.send(self._revoke(key))

    def owner_of(self, key: AttemptKey) -> str | None:
        return self.leases.owner_of(key)

    async def expire_leases(self) -> None:
        """Record ``JobAttemptLost`` for every attempt whose lease ran out.

        If the worker still holds a stream, that stream is dead or the worker stuck
        (silent for a whole lease): it is closed, so no more work is handed to it. A
        worker that is alive after all reconnects and, naming the lost attempt in its
        Hello, is told to stop it.
        """
        for expired in self.leases.expired():
            key, worker_id = expired.key, expired.worker_id
            session = self._sessions.get(worker_id)
            if session is not None:
                session.close("lease expired: the worker stopped answering")
            why = expired.why or f"worker {self._names.get(worker_id, worker_id)} stopped answering"
            log.warning(
                "attempt %s of %s in run %s lost: %s", key.attempt, key.job, key.run_id, why
            )
            await self._lose(key, why)

    async def revoke(self, worker_id: str) -> None:
        """The worker's credential was revoked: close its stream and lose, at once,
        every attempt it holds (it cannot come back to finish them)."""
        session = self._sessions.get(worker_id)
        if session is not None:
            session.close("credential revoked")
        for key in self.leases.owned_by(worker_id):
            await self._lose(key, f"worker {self._names.get(worker_id, worker_id)} revoked")

    async def _lose(self, key: AttemptKey, reason: str) -> None:
        """Free ``key``'s slot and record it lost, if it is still the current attempt."""
        self.release(key)

        def make(state: RunState) -> list[Event]:
            js = state.jobs.get(key.job)
            if js is None or js.attempt != key.attempt or js.status.finished:
                return []
            return [JobAttemptLost(job=key.job, attempt=key.attempt, reason=reason)]

        await self._runs.record_if(key.run_id, make)

    # --- cancel ---------------------------------------------------------------------

    def send_cancel(self, key: AttemptKey, reason: str) -> bool:
        """Tell the worker running ``key`` to stop it; False if it is not connected."""
        worker_id = self.leases.owner_of(key)
        session = self._sessions.get(worker_id) if worker_id else None
        if session is None:
            return False
        return session.send(self._cancel(key, reason))

    def _cancel(self, key: AttemptKey, reason: str) -> Cancel:
        return Cancel(key, grace_seconds=self.settings.cancel_grace, reason=reason)

    @staticmethod
    def _revoke(key: AttemptKey) -> Cancel:
        return Cancel(key, grace_seconds=0.0, reason="no longer this worker's", revoke=True)

    # --- the worker streams of the log ------------------------------------------------

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
