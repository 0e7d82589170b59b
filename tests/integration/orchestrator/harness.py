"""A real orchestrator and real workers in one process, for scenario tests (zuul style).

:class:`Cluster` runs the real :class:`Orchestrator` and :class:`OrchestratorServer` on
``127.0.0.1:0`` with its SQLite log in a temp dir, and real :class:`WorkerAgent`\\ s
dialing it over gRPC. Each worker runs a :class:`FakeExecutor` (whose behaviour the
executor contract tests hold to the Docker executor's), and each reaches the
orchestrator through its own :class:`Link`, a TCP relay the test can cut or block to
break the network between that one worker and the orchestrator.

Jobs are held: a job's first step waits at a gate until the test calls
:meth:`Cluster.release`, so the test decides the order in which jobs finish. Every
wait polls the run book or the log (:meth:`Cluster.wait_until`), never sleeps a fixed
time, and fails after a few seconds instead of hanging.

The orchestrator runs on a :class:`~tests.fakes.clock.FakeClock`: its time stands
still, so no lease runs out and no back-stop fires unless the test says so, with
:meth:`Cluster.advance` (time passes, then the orchestrator's loop takes a round) or
:meth:`Cluster.lapse` (a silent worker's leases run out). Workers keep real time: they
heartbeat every ``heartbeat_interval`` seconds and time their jobs out for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from tests.fakes.clock import FakeClock
from tests.fakes.executor import FakeExecutor, FakeJob, FakeStep
from xxci.common.clock import SYSTEM_CLOCK, Clock
from xxci.common.events import Event, MessageRejected, RecordedEvent, run_stream, worker_stream
from xxci.common.spec.loader import load_pipeline_text
from xxci.orchestrator.domain.settings import Settings
from xxci.orchestrator.domain.state import RunState
from xxci.orchestrator.rpc.server import OrchestratorServer
from xxci.orchestrator.runtime.orchestrator import Orchestrator
from xxci.orchestrator.runtime.sessions import WorkerSession
from xxci.worker.connection.agent import WorkerAgent
from xxci.worker.executor import Assignment

__all__ = ["ONE_JOB", "Cluster", "Entry", "Link", "Worker"]

WAIT_SECONDS = 5.0

SETTINGS = Settings(heartbeat_interval=0.2)
"""What a cluster runs with unless a test says otherwise: the defaults of ``xxci
server``, with workers that heartbeat often (in real time)."""

ONE_JOB = """
pipeline:
  name: scenario
stages: [test]
default:
  image: busybox
jobs:
  - name: job
    stage: test
    script: [make, make check]
"""
"""A pipeline of one job of two steps, for scenarios about a single attempt."""


class Entry(NamedTuple):
    """One event of a run's history: its type, the job (or stage) it is about, and the
    attempt (0 for events without one)."""

    type: str
    name: str
    attempt: int


def entry(event: Event) -> Entry:
    name = getattr(event, "job", "") or getattr(event, "stage", "")
    return Entry(event.type, name, int(getattr(event, "attempt", 0)))


# --- the network between a worker and the orchestrator --------------------------------


class Link:
    """A TCP relay from a worker to the orchestrator's port.

    :meth:`cut` drops the live connections (both ends see their stream fail at once);
    :meth:`block` also turns new connections away until :meth:`unblock`;
    :meth:`hold_replies` keeps what the orchestrator sends from reaching the worker
    (the worker's messages still go through) until :meth:`pass_replies` or a cut;
    :meth:`hold_requests` does the same the other way (a worker that stopped
    answering, over a connection that stays open).
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.blocked = False
        self._replies = asyncio.Event()
        self._replies.set()
        self._requests = asyncio.Event()
        self._requests.set()
        self.connections = 0
        """How many connections were relayed so far."""
        self._server: asyncio.Server | None = None
        self._open: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        for pair in list(self._open):
            for writer in pair:
                writer.transport.abort()
        self._replies.set()
        self._requests.set()

    def block(self) -> None:
        self.blocked = True
        self.cut()

    def unblock(self) -> None:
        self.blocked = False

    def hold_replies(self) -> None:
        self._replies.clear()

    def pass_replies(self) -> None:
        self._replies.set()

    def hold_requests(self) -> None:
        self._requests.clear()

    def pass_requests(self) -> None:
        self._requests.set()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self.blocked:
                writer.transport.abort()
                return
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            except OSError:
                writer.transport.abort()
                return
            pair = (writer, up_writer)
            self._open.add(pair)
            self.connections += 1
            try:
                await asyncio.gather(
                    _pipe(reader, up_writer, self._requests),
                    _pipe(up_reader, writer, self._replies),
                )
            finally:
                self._open.discard(pair)
                for w in pair:
                    w.transport.abort()
        finally:
            self._tasks.discard(task)


async def _pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    flowing: asyncio.Event | None = None,
) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            if flowing is not None:
                await flowing.wait()
            if writer.is_closing():
                break
            writer.write(data)
            await writer.drain()
    writer.transport.abort()


# --- workers --------------------------------------------------------------------------


@dataclass(eq=False)
class Worker:
    """A real WorkerAgent with a FakeExecutor, connected through its own Link."""

    name: str
    agent: WorkerAgent
    executor: FakeExecutor
    link: Link
    task: asyncio.Task[None] | None = None
    held: dict[str, list[asyncio.Event]] = field(default_factory=dict)
    """Gates of the runs of each job that wait for :meth:`release`."""

    @property
    def worker_id(self) -> str:
        return self.agent.worker_id

    def holding(self, job: str) -> int:
        return len(self.held.get(job, []))

    def release(self, job: str) -> int:
        """Let every held run of ``job`` on this worker go on; returns how many."""
        gates = self.held.pop(job, [])
        for gate in gates:
            gate.set()
        return len(gates)

    def canceled(self, job: str) -> bool:
        """Whether the executor was asked to cancel the latest run of ``job``."""
        run = self.executor.runs.get(job)
        return run is not None and run.cancel.is_set()

    def killed(self, job: str) -> bool:
        """Whether the executor was told to kill the latest run of ``job`` at once (it
        is no longer this worker's)."""
        run = self.executor.runs.get(job)
        return run is not None and run.cancel.is_set() and run.kill.is_set()

    @property
    def reported(self) -> bool:
        """Whether every ended attempt's messages, JobFinished last, were written to a
        stream (whether or not the orchestrator got them)."""
        return not self.agent._outboxes.unfinished()

    @property
    def acked(self) -> bool:
        """Whether the orchestrator acknowledged every attempt message of the worker."""
        return self.agent._outboxes.delivered()


# --- the cluster ----------------------------------------------------------------------


class Cluster:
    """An orchestrator on ``127.0.0.1`` with a data dir under ``tmp_path``, and workers.

    ``hold`` says which jobs wait at a gate: True for every job, or a set of names.
    ``clock`` is the orchestrator's (a :class:`FakeClock` unless given); the workers
    get ``settings.cancel_grace`` as their grace. ``token`` guards the orchestrator
    (None: open); its workers register with it.
    """

    def __init__(
        self,
        tmp_path: Path,
        *,
        settings: Settings = SETTINGS,
        clock: Clock | None = None,
        hold: bool | Collection[str] = True,
        token: str | None = None,
    ) -> None:
        self.tmp_path = tmp_path
        self.data_dir = tmp_path / "data"
        self.settings = settings
        self.clock = clock if clock is not None else FakeClock()
        self.hold = hold
        self.token = token
        """The orchestrator's token (None: open); workers register with it."""
        self.port = 0
        self.workers: list[Worker] = []
        self._server: OrchestratorServer | None = None

    # -- the orchestrator ------------------------------------------------------------

    @property
    def orchestrator(self) -> Orchestrator:
        assert self._server is not None, "the orchestrator is not running"
        return self._server.orchestrator

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Start the orchestrator (on the same port and data dir as before, if any)."""
        orchestrator = Orchestrator(self.data_dir, settings=self.settings, clock=self.clock)
        server = OrchestratorServer(orchestrator, f"127.0.0.1:{self.port}", token=self.token)
        await server.start()
        self._server = server
        self.port = server.port

    async def stop_orchestrator(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await server.stop(grace=0)

    async def restart(self) -> None:
        """Stop the orchestrator and start a new one on the same port and data dir."""
        await self.stop_orchestrator()
        await self.start()

    async def close(self) -> None:
        for worker in self.workers:
            await self.crash(worker)
        await self.stop_orchestrator()

    # -- time ------------------------------------------------------------------------

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass on the orchestrator's clock, then let its loop take one
        round (leases, time-based decisions, cancels, dispatch) at the new time.

        Leases count too: an attempt whose worker did not heartbeat since is lost when
        ``seconds`` reach the lease, a live worker's as well (its next heartbeat comes
        in real time, after the round).
        """
        assert isinstance(self.clock, FakeClock), "only a fake clock can be advanced"
        self.clock.advance(seconds)
        await self.orchestrator.step()

    async def lapse(self, worker: Worker) -> None:
        """Let the leases of ``worker``, which must have gone silent (cut off, crashed,
        its messages held), run out: advance the clock past a lease until the
        orchestrator drops its session (a heartbeat already on its way when the worker
        went silent renews the lease once more)."""

        async def dropped() -> bool:
            hub = self.orchestrator.hub
            if self.session_of(worker) is None and not hub.leases.held_by(worker.worker_id):
                return True
            await self.advance(self.settings.lease_ttl + 1)
            return False

        await self.wait_until(dropped, what=f"the leases of {worker.name} to run out")

    # -- runs ------------------------------------------------------------------------

    async def submit(self, yaml_text: str) -> str:
        """Submit a pipeline (validated like ``xxci run`` does); returns the run id."""
        state = await self.orchestrator.submit(load_pipeline_text(yaml_text, "test.yml"))
        return state.run_id

    async def state(self, run_id: str) -> RunState:
        return await self.orchestrator.runs.get(run_id)

    async def records(self, run_id: str) -> list[RecordedEvent]:
        return await self.orchestrator.store.read_stream(run_stream(run_id))

    async def history(self, run_id: str, *, without: Iterable[str] = ()) -> list[Entry]:
        """The run's events as (type, job or stage, attempt), in log order, leaving out
        the event types in ``without``."""
        skip = set(without)
        return [entry(r.event) for r in await self.records(run_id) if r.event.type not in skip]

    async def job_history(self, run_id: str, job: str) -> list[Entry]:
        return [e for e in await self.history(run_id) if e.name == job]

    async def log_text(self, run_id: str, job: str, attempt: int = 1) -> str:
        """The stdout and stderr the orchestrator stored for an attempt."""
        chunks = await self.orchestrator.logs.read(run_id, job, attempt)
        return b"".join(c.data for c in chunks if c.stream != "system").decode()

    async def worker_events(self, worker_id: str) -> list[Event]:
        """The events of a worker's stream (connections, rejected messages)."""
        records = await self.orchestrator.store.read_stream(worker_stream(worker_id))
        return [r.event for r in records]

    async def rejected(self, worker_id: str) -> list[tuple[str, str, int, str]]:
        """The messages of a worker the orchestrator refused, as (message kind, job,
        attempt, reason), in order."""
        return [
            (e.message, e.job, e.attempt, e.reason)
            for e in await self.worker_events(worker_id)
            if isinstance(e, MessageRejected)
        ]

    async def wait_rejected(self, worker_id: str, message: str) -> list[tuple[str, str, int, str]]:
        """Wait until a ``message`` (e.g. "job_finished") of the worker was refused;
        returns :meth:`rejected`."""

        async def found() -> list[tuple[str, str, int, str]] | None:
            refused = await self.rejected(worker_id)
            return refused if any(r[0] == message for r in refused) else None

        result: list[tuple[str, str, int, str]] = await self.wait_until(
            found, what=f"a refused {message} of worker {worker_id}"
        )
        return result

    async def wait_refusals(self, worker_id: str, count: int) -> list[tuple[str, str, int, str]]:
        """Wait until ``count`` messages of the worker were refused; returns
        :meth:`rejected`."""

        async def found() -> list[tuple[str, str, int, str]] | None:
            refused = await self.rejected(worker_id)
            return refused if len(refused) >= count else None

        result: list[tuple[str, str, int, str]] = await self.wait_until(
            found, what=f"{count} refused messages of worker {worker_id}"
        )
        return result

    async def wait_finished(self, run_id: str, timeout: float = WAIT_SECONDS) -> RunState:  # noqa: ASYNC109
        async def finished() -> RunState | None:
            state = await self.state(run_id)
            return state if state.finished else None

        result: RunState = await self.wait_until(finished, timeout, what=f"run {run_id} to end")
        return result

    async def wait_for_event(
        self, run_id: str, type_: str, name: str = "", attempt: int = 0
    ) -> None:
        """Wait until the run's log holds the event ``(type_, name, attempt)``."""
        wanted = Entry(type_, name, attempt)

        async def seen() -> bool:
            return wanted in await self.history(run_id)

        await self.wait_until(seen, what=f"{wanted} in run {run_id}")

    # -- workers ---------------------------------------------------------------------

    async def add_worker(
        self,
        name: str,
        *,
        capacity: int = 1,
        labels: Iterable[str] = (),
        jobs: dict[str, FakeJob] | None = None,
        wait: bool = True,
        clock: Clock = SYSTEM_CLOCK,
    ) -> Worker:
        """Start a worker; with ``wait``, return once the orchestrator has its session.

        ``jobs`` scripts particular jobs; any other job prints one line per script
        command and, if held, waits at a gate before the first. ``clock`` is the
        worker's (the machine's, unless a test sets it off).
        """
        link = Link(self.port)
        await link.start()
        executor = FakeExecutor(jobs)
        agent = WorkerAgent(
            target=f"127.0.0.1:{link.port}",
            token=self.token,
            name=name,
            capacity=capacity,
            labels=list(labels),
            executor=executor,
            work_dir=self.tmp_path / "workers" / name,
            backoff_initial=0.05,
            backoff_max=0.2,
            flush_timeout=2.0,
            grace_seconds=self.settings.cancel_grace,
            clock=clock,
        )
        worker = Worker(name, agent, executor, link)
        executor.default = lambda assignment: self._script(worker, assignment)
        worker.task = asyncio.create_task(agent.run(), name=f"worker {name}")
        self.workers.append(worker)
        if wait:
            await self.wait_connected(worker)
        return worker

    async def wait_connected(self, worker: Worker) -> WorkerSession:
        def session() -> WorkerSession | None:
            return self.session_of(worker)

        found: WorkerSession = await self.wait_until(session, what=f"{worker.name} to connect")
        return found

    def session_of(self, worker: Worker) -> WorkerSession | None:
        """The orchestrator's live session of ``worker``, if it is connected."""
        if self._server is None or not worker.worker_id:
            return None
        for session in self.orchestrator.hub.sessions():
            if session.worker_id == worker.worker_id and not session.closed:
                return session
        return None

    async def stop_worker(self, worker: Worker, *, drain: bool = True) -> None:
        """Stop a worker the orderly way (drain: let its jobs finish first)."""
        if worker.task is None:
            return
        worker.agent.request_stop(drain=drain)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(WAIT_SECONDS):
                await asyncio.gather(worker.task, return_exceptions=True)
        await self.crash(worker)

    async def crash(self, worker: Worker) -> None:
        """Kill a worker like a lost machine: its attempts stop without reporting."""
        worker.link.block()
        if worker.task is not None:
            worker.task.cancel()
            await asyncio.gather(worker.task, return_exceptions=True)
            worker.task = None
        await worker.link.close()

    def _script(self, worker: Worker, assignment: Assignment) -> FakeJob:
        steps = [
            FakeStep(output=[("stdout", f"{assignment.job}: {line}\n".encode())])
            for line in assignment.script
        ]
        held = self.hold is True or (self.hold is not False and assignment.job in self.hold)
        if held and steps:
            gate = asyncio.Event()
            worker.held.setdefault(assignment.job, []).append(gate)
            steps[0].gate = gate
        return FakeJob(steps=steps)

    # -- holding and releasing jobs --------------------------------------------------

    async def wait_held(self, job: str, worker: Worker | None = None) -> Worker:
        """Wait until a run of ``job`` is held (on ``worker``, or on any); returns the
        worker holding it."""
        candidates = [worker] if worker is not None else self.workers

        def holder() -> Worker | None:
            return next((w for w in candidates if w.holding(job)), None)

        found: Worker = await self.wait_until(holder, what=f"{job} to be held")
        return found

    async def release(self, job: str, worker: Worker | None = None) -> None:
        """Wait until ``job`` is held (on ``worker``, or on any), then let it go on."""
        await self.wait_held(job, worker)
        for w in [worker] if worker is not None else self.workers:
            w.release(job)

    # -- waiting ---------------------------------------------------------------------

    async def wait_until(
        self,
        predicate: Callable[[], Any] | Callable[[], Awaitable[Any]],
        timeout: float = WAIT_SECONDS,  # noqa: ASYNC109 - the failure deadline of a poll
        *,
        what: str = "",
    ) -> Any:
        """Poll ``predicate`` (sync or async) until it returns something truthy, and
        return that; fail the test after ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    value = predicate()
                    if inspect.isawaitable(value):
                        value = await value
                    if value:
                        return value
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None
