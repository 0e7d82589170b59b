"""The orchestrator: the event log, the run book, the worker hub and their loop.

On SQLite, one instance serves one data directory (``events.db`` and ``blobs/``), and
holds its lock (:mod:`xxci.orchestrator.store.dir_lock`) while it runs: a second
orchestrator on the same directory, in this process or another, fails to start. On
a shared store (``store="postgresql://..."``) several serve it at once, each taking
its part as :mod:`~xxci.orchestrator.runtime.cluster` describes, and each following
the others' changes (:mod:`~xxci.orchestrator.runtime.follower`). Either way the
secret store (``secrets.db``) and the job caches (index ``caches.db``, archives
``cache-blobs/``) are in the data directory: each orchestrator has its own. ``start()``
replays every unfinished run from the log and carries on where it was; the loop
then hands out work, expires leases, delivers cancels and lets time-based decisions
(timeouts) happen. ``--local`` mode uses this very class, in the CLI's process.

Time comes from the :class:`~xxci.common.clock.Clock` it is given and every duration
from its :class:`~xxci.orchestrator.domain.settings.Settings`. A test that runs it on a
fake clock advances the clock and then calls :meth:`Orchestrator.step`, which does at
once what the loop would do on its next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xxci.common.attempts import AttemptKey
from xxci.common.clock import SYSTEM_CLOCK, Clock
from xxci.common.errors import XxciError
from xxci.common.events import Event, JobFinished, RecordedEvent, RunFinished, WorkerRevoked
from xxci.common.spec.model import Pipeline
from xxci.orchestrator.domain.cancel import CancelDecision, decide_cancel
from xxci.orchestrator.domain.limits import Limits
from xxci.orchestrator.domain.play import decide_play
from xxci.orchestrator.domain.scheduler import jobs_to_cancel
from xxci.orchestrator.domain.settings import Settings
from xxci.orchestrator.domain.state import RunState
from xxci.orchestrator.runtime.cluster import Cluster
from xxci.orchestrator.runtime.dispatcher import Dispatcher
from xxci.orchestrator.runtime.follower import follow_log
from xxci.orchestrator.runtime.hub import Hub
from xxci.orchestrator.runtime.identities import Identities, Revocation
from xxci.orchestrator.runtime.job_caches import JobCaches
from xxci.orchestrator.runtime.runs import RunBook
from xxci.orchestrator.runtime.spec_pool import SpecPool
from xxci.orchestrator.store import BlobStore
from xxci.orchestrator.store.backends import Storage, is_store_url, open_storage
from xxci.orchestrator.store.cache_index import CacheIndex
from xxci.orchestrator.store.dir_lock import DataDirLock, Endpoint
from xxci.orchestrator.store.secret_store import SecretStore
from xxci.orchestrator.views.load import load_run
from xxci.orchestrator.views.queries import remember_finished
from xxci.orchestrator.views.report import report_file_text
from xxci.orchestrator.views.status import WorkerView, status_report

log = logging.getLogger("xxci.orchestrator")


def _all(_run_id: str) -> bool:
    return True


class Orchestrator:
    """Owns the stores and the background loop of one orchestrator."""

    def __init__(
        self,
        data_dir: Path,
        *,
        db_name: str = "events.db",
        report_dir: Path | None = None,
        settings: Settings | None = None,
        clock: Clock = SYSTEM_CLOCK,
        local: bool = False,
        store: str | None = None,
        address: str = "",
        limits: Limits | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.store_url = store
        """A shared store's URL; None: SQLite in ``data_dir``."""
        self.shared = is_store_url(store)
        self.id = uuid.uuid4().hex[:12]
        """This orchestrator among those serving a shared store."""
        self.address = address
        self.local = local
        """Runs of this orchestrator are ``--local`` ones (recorded in ``RunCreated``)."""
        self._db_path = data_dir / db_name
        self.report_dir = report_dir
        self.settings = settings or Settings()
        self.limits = limits or Limits()
        self.specs = SpecPool(self.limits.spec)
        """Where submitted pipeline files are read, off the event loop."""
        self.clock = clock
        self._loop_task: asyncio.Task[None] | None = None
        self._cancels_sent: set[AttemptKey] = set()
        self._stopped = False
        self._caching: set[asyncio.Task[None]] = set()
        self._stepping = asyncio.Lock()
        self._wake = asyncio.Event()
        self._lock: DataDirLock | None = None
        self._storage: Storage | None = None
        self._follower: asyncio.Task[None] | None = None
        self.cluster: Cluster | None = None

    async def start(self) -> None:
        """Take the data directory (:class:`DataDirInUse` if another orchestrator has
        it; not on a shared store), open the stores and resume the unfinished runs."""
        if not self.shared:
            self._lock = DataDirLock.acquire(self.data_dir)
        try:
            await self._open()
        except BaseException:
            if self._storage is not None:
                await self._storage.close()
            for name in ("caches", "secrets"):
                opened = getattr(self, name, None)
                if opened is not None:
                    with contextlib.suppress(Exception):
                        await opened.close()
            if self._lock is not None:
                self._lock.release()
            raise

    def _may_hold(self, resource: str) -> bool:
        return self.cluster is None or self.cluster.holds(resource)

    @property
    def store_where(self) -> str:
        """Where the data is, for messages: the data directory, or the database (no
        password)."""
        return self._storage.where if self._storage is not None else str(self.data_dir)

    def publish(self, address: str, token: str = "") -> Endpoint:
        """Say where this orchestrator listens, in its data directory (the token only
        for a local orchestrator: a server's clients are given theirs). On a shared
        store there is no data directory to say it in: the store's membership does."""
        if self._lock is None:
            self.address = address
            if self.cluster is not None:
                self.cluster.address = address
            return Endpoint(os.getpid(), address, self.local)
        return self._lock.publish(address, local=self.local, token=token)

    async def _open(self) -> None:
        self._storage = storage = await open_storage(
            self.store_url, self.data_dir, self._db_path.name
        )
        self.store = storage.events
        self.logs = storage.logs
        self.reports = storage.reports
        self.blobs = storage.blobs
        self.members = storage.members
        self.identity_store = storage.identities
        self.secrets = await SecretStore.open(self.data_dir / "secrets.db")
        self.caches = JobCaches(
            await CacheIndex.open(self.data_dir / "caches.db"),
            BlobStore(self.data_dir / "cache-blobs"),
            self.settings.cache_max_bytes,
            self.clock,
        )
        self.runs = RunBook(self.store, self.settings, self.clock)
        self.hub = Hub(self.runs, self.store, self.settings, self.clock, wake=self.wake)
        self.identities = Identities(self.identity_store, self.hub.record_worker_event, self.clock)
        self.dispatcher = Dispatcher(self.runs, self.hub, self._may_hold, self.limits, self.secrets)
        self.runs.subscribe(self._on_change)
        seen = await self.store.last_seq()
        resumed = await self.runs.load()
        if self.shared:
            # Other orchestrators may be running these: the cluster adopts the attempts
            # whose worker has no live orchestrator, and follows the others' changes.
            self.cluster = Cluster(
                self.id,
                self.address,
                storage.members,
                self.hub,
                self.runs,
                self.settings,
                self.clock,
            )
            await self.cluster.sync()
            self._follower = asyncio.create_task(
                follow_log(self.store, self.runs, seen, self.settings.tick, self._observed),
                name="log follower",
            )
        for state in resumed:
            if self.cluster is None:
                # Attempts that were running when we stopped get a lease: a worker that
                # reconnects re-adopts them, otherwise they are lost and re-queued.
                self.hub.adopt_orphans(state)
            if self.cluster is None or self.cluster.owns(state.run_id):
                await self.runs.advance(state.run_id)
        if resumed:
            log.info("resumed %d unfinished run(s) from the log", len(resumed))
        self._loop_task = asyncio.create_task(self._loop(), name="orchestrator-loop")

    async def stop(self) -> None:
        """Stop the loop, close the stores and let the data directory go. Safe to call
        twice, or after a start that failed."""
        if self._stopped or self._loop_task is None:
            return
        self._stopped = True
        for task in (self._loop_task, self._follower):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for session in self.hub.sessions():
            session.close()
        if self._caching:
            await asyncio.gather(*self._caching, return_exceptions=True)
        await self.specs.close()
        try:
            if self.cluster is not None:
                await self.cluster.leave()
            if self._storage is not None:
                await self._storage.close()
            await self.caches.close()
            await self.secrets.close()
        finally:
            if self._lock is not None:
                self._lock.release()

    async def submit(
        self,
        pipeline: Pipeline,
        *,
        repo: str = "",
        branch: str = "",
        commit: str = "",
        source_blob: str = "",
        run_id: str = "",
    ) -> RunState:
        """Start a run (see :meth:`RunBook.create` for a ``run_id`` the client chose);
        raises XxciError if it asks for a secret the store does not have for it."""
        await self._check_secrets(pipeline)
        state = await self.runs.create(
            pipeline,
            repo=repo,
            branch=branch,
            commit=commit,
            source_blob=source_blob,
            local=self.local,
            run_id=run_id,
        )
        self.wake()
        return state

    async def _check_secrets(self, pipeline: Pipeline) -> None:
        wanted = {s.name: job.name for job in pipeline.jobs for s in job.secrets}
        known = await self.secrets.known(pipeline.name, list(wanted))
        missing = [name for name in wanted if name not in known]
        if missing:
            raise XxciError(
                "; ".join(
                    f"job '{wanted[name]}' asks for secret '{name}', which is not set"
                    f" (xxci secret set {name})"
                    for name in missing
                )
            )

    async def cancel(self, run_id: str, job: str = "", reason: str = "") -> CancelDecision:
        """Record a cancel of the run (or one job) and tell the workers at once."""
        decided: list[CancelDecision] = []

        def make(state: RunState) -> list[Event]:
            decided[:] = [decide_cancel(state, job, reason)]
            return list(decided[0].events)

        state = await self.runs.record_if(run_id, make)
        self._deliver_cancels(state)
        return decided[0]

    def status(self) -> dict[str, Any]:
        """The status document (:func:`status_report`): the runs in flight, why their
        jobs wait, and the workers connected now."""
        workers = [
            WorkerView(
                worker_id=s.worker_id,
                name=s.name,
                capacity=s.capacity,
                labels=s.labels,
                draining=s.draining,
                running=tuple(sorted(s.attempts)),
            )
            for s in self.hub.sessions()
            if not s.closed
        ]
        return {**status_report(self.runs.active(), workers), "limits": self.limits.to_dict()}

    async def revoke_worker(self, worker_id: str) -> Revocation:
        """Revoke a worker's credential, close its stream and lose its attempts (they
        run again elsewhere). NotFoundError for a worker that never registered."""
        revocation = await self.identities.revoke(worker_id)
        await self.hub.revoke(worker_id)
        self.wake()
        return revocation

    async def connected_elsewhere(self) -> set[str]:
        """The workers connected to another live orchestrator of the shared store (none
        without one): their homes, as the cluster records them."""
        if self.cluster is None:
            return set()
        homes = await self.members.homes()
        alive = set(self.cluster.alive) - {self.cluster.me}
        return {worker_id for worker_id, home in homes.items() if home in alive}

    async def _observed(self, records: Sequence[RecordedEvent]) -> None:
        """Events of the shared log (some from other orchestrators): a worker revoked
        through another orchestrator but connected to this one is cut off here."""
        for rec in records:
            if isinstance(rec.event, WorkerRevoked):
                await self.hub.revoke(rec.event.worker_id)

    async def play(self, run_id: str, job: str, by: str = "") -> CancelDecision:
        """Record that someone played a manual job; the scheduler queues it."""
        decided: list[CancelDecision] = []

        def make(state: RunState) -> list[Event]:
            decided[:] = [decide_play(state, job, by)]
            return list(decided[0].events)

        await self.runs.record_if(run_id, make)
        self.wake()
        return decided[0]

    async def state_at(self, run_id: str, at_seq: int) -> RunState:
        """The run as it stood just after global event ``at_seq``."""
        return await load_run(self.store, run_id, up_to_seq=at_seq)

    # --- loop -----------------------------------------------------------------------

    async def step(self) -> None:
        """One round of the loop, now: expire leases, let time-based decisions happen,
        deliver cancels, hand out work. Rounds never overlap."""
        async with self._stepping:
            if self.cluster is not None:
                try:
                    # Right before a lease runs out, ask again whether its worker came
                    # home elsewhere: that lease is handed over, not expired.
                    await self.cluster.sync_if_due(force=bool(self.hub.leases.expired()))
                except Exception:  # the store is unreachable for now: try next tick
                    log.exception("could not sync with the other orchestrators")
            await self.hub.expire_leases()
            await self.runs.tick(self.cluster.owns if self.cluster is not None else _all)
            for state in self.runs.active():
                self._deliver_cancels(state)
            await self.dispatcher.dispatch()

    def wake(self) -> None:
        """Ask for a round of the loop now (there is work to hand out, or a free slot)."""
        self._wake.set()

    def _next_round_in(self) -> float:
        """Seconds until the loop must look again: a tick, or sooner when a lease runs
        out first (a lost worker's attempts are queued again on time)."""
        wait = self.settings.tick
        deadline = self.hub.leases.next_deadline()
        if deadline is not None:
            wait = min(wait, max(0.0, deadline - self.clock.monotonic()) + 0.01)
        return wait

    async def _loop(self) -> None:
        tick = self.settings.tick
        while True:
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._next_round_in()):
                        await self._wake.wait()
                self._wake.clear()
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("orchestrator loop iteration failed")
                await asyncio.sleep(tick)

    def _deliver_cancels(self, state: RunState) -> None:
        for key in jobs_to_cancel(state):
            full = AttemptKey(state.run_id, key[0], key[1])
            if full in self._cancels_sent:
                continue
            if self.hub.send_cancel(full, "canceled"):
                self._cancels_sent.add(full)

    def _on_change(self, state: RunState, records: Sequence[RecordedEvent]) -> None:
        kick = False
        for rec in records:
            event = rec.event
            if isinstance(event, JobFinished):
                key = AttemptKey(state.run_id, event.job, event.attempt)
                if self.hub.owner_of(key) is not None:
                    # Decided here (timeout back-stop, cancel): stop the worker's copy.
                    self.hub.send_cancel(key, event.failure_reason or "finished")
                    self.hub.release(key)
                self._cancels_sent.discard(key)
            elif event.type in ("JobQueued", "JobAttemptLost"):
                kick = True
            elif isinstance(event, RunFinished):
                self._cache_report(state)
                if self.report_dir is not None:
                    self._write_report(state)
        if kick:
            self.wake()

    def _cache_report(self, state: RunState) -> None:
        """Put the finished run's report in the report cache (in a task this object
        owns), so report queries never have to replay it."""
        task = asyncio.create_task(remember_finished(self.reports, state))
        self._caching.add(task)
        task.add_done_callback(self._caching.discard)

    def _write_report(self, state: RunState) -> None:
        assert self.report_dir is not None
        path = self.report_dir / state.pipeline.name / f"{state.number}.json"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(report_file_text(state), encoding="utf-8")
            tmp.replace(path)
        except OSError:
            log.exception("could not write the report %s", path)
