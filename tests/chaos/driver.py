"""The chaos test: a server and workers as real processes, pipelines submitted all at
once, and a driver that kills and restarts them at random while the runs go on.

Faults, each at a random moment (seeded: the seed is printed, and ``--seed`` replays
the same choices): the server killed with SIGKILL and restarted on its data
directory; a worker killed with SIGKILL and restarted; a worker sent SIGTERM (it
drains) and restarted once it has gone; a worker's connections dropped by its relay.

A job whose worker is lost three times fails ``worker_lost``: xxci gives up then, by
design (``Settings.max_lost_attempts``), and its script no longer decides. So the
driver does not kill a worker that runs an attempt of a job that lost its worker
twice already (nor one it cannot see), and cuts its connections instead.

Afterwards, for every run: it finished; each job ended as its script dictates
(:mod:`tests.chaos.pipelines`); no job has more than one ``JobFinished`` (no attempt
finished twice, no lost attempt's result applied); no container (nor network) of the
runs is left in the engine once the workers have stopped and a worker's start-up
sweep has run; ``xxci verify`` (the hash chain included) is clean.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiodocker

from tests.chaos.pipelines import ChaosPipeline, make_pipeline
from tests.chaos.processes import TOKEN, XXCI, Process, free_port, wait_port
from tests.integration.orchestrator.harness import Link
from xxci.cli.client.remote import GrpcClient
from xxci.common.api import Submission
from xxci.common.errors import ConnectionFailed
from xxci.common.events import JobAttemptLost, JobFinished, RecordedEvent
from xxci.orchestrator.domain.fold import replay
from xxci.orchestrator.domain.settings import Settings
from xxci.orchestrator.domain.state import RunState
from xxci.worker.docker.container_config import LABEL_RUN
from xxci.worker.docker.engine import DockerEngine
from xxci.worker.docker.executor import DockerExecutor

__all__ = ["Chaos", "Options", "Summary"]

SERVER_KILL = "server SIGKILL"
WORKER_KILL = "worker SIGKILL"
WORKER_TERM = "worker SIGTERM"
CUT = "connections cut"
FAULTS = {SERVER_KILL: 1, WORKER_KILL: 2, WORKER_TERM: 1, CUT: 2}
"""Each fault and its weight in the draw."""
MAX_LOST = Settings().max_lost_attempts
"""A job's attempt with this number or more comes after that many losses less one (the
chaos pipelines have no ``retry``): losing it too fails the job."""


@dataclass(frozen=True)
class Options:
    rounds: int = 1
    """Each round submits ``pipelines`` runs at once and injects faults until they end."""
    pipelines: int = 20
    workers: int = 3
    capacity: int = 3
    fault_seconds: float = 30.0
    """Faults are injected for at most this long per round (less if the runs end)."""
    settle_seconds: float = 120.0
    """How long the runs may take to finish once the faults stopped."""
    seed: int | None = None


@dataclass
class Summary:
    seed: int
    faults: Counter[str] = field(default_factory=Counter)
    runs: int = 0
    jobs: int = 0
    lost: int = 0
    orphans: int = 0
    spared: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        faults = ", ".join(f"{self.faults[name]} {name}" for name in FAULTS)
        return (
            f"chaos (seed {self.seed}): {sum(self.faults.values())} faults ({faults}); "
            f"{self.runs} runs and {self.jobs} jobs checked, {self.lost} attempts lost and "
            f"run again ({self.spared} kills spared a job's third loss), "
            f"{self.orphans} orphaned containers swept; {self.seconds:.0f}s"
        )


class Chaos:
    """One chaos session under ``tmp``; :meth:`run` raises AssertionError, with the
    processes' logs, when a check fails."""

    def __init__(self, tmp: Path, options: Options, say: Callable[[str], None] = print) -> None:
        self.tmp = tmp
        self.options = options
        self.seed = options.seed if options.seed is not None else random.randrange(10**6)
        self.rng = random.Random(self.seed)
        self.say = say
        self.summary = Summary(self.seed)
        self.port = free_port()
        self.server = Process(
            "server",
            ["server", "--listen", self.address, "--data-dir", str(tmp / "data"), "--token", TOKEN],
            tmp / "server.log",
        )
        self.workers: list[Process] = []
        self.run_ids: list[str] = []
        self._busy: set[Process] = set()  # workers between a fault and their restart
        self._restarts: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def run(self) -> Summary:
        began = time.monotonic()
        self.say(f"chaos: seed {self.seed}, data in {self.tmp}")
        await self._start()
        try:
            async with GrpcClient(self.address, TOKEN) as client:
                for round_ in range(self.options.rounds):
                    await self._round(client, round_)
                await self._verify()
            await self._stop_all()
            await self._check_containers()
        except BaseException:
            await self._stop_all()
            raise
        finally:
            for link in (w.link for w in self.workers):
                if link is not None:
                    await link.close()
        self.summary.seconds = time.monotonic() - began
        self.say(self.summary.line())
        return self.summary

    # --- processes --------------------------------------------------------------------

    async def _start(self) -> None:
        await self.server.start()
        await wait_port(self.port)
        for n in range(1, self.options.workers + 1):
            link = Link(self.port)
            await link.start()
            name = f"chaos-w{n}"
            args = ["worker", "--server", f"127.0.0.1:{link.port}", "--token", TOKEN]
            args += ["--name", name, "--capacity", str(self.options.capacity)]
            args += ["--work-dir", str(self.tmp / name)]
            worker = Process(name, args, self.tmp / f"{name}.log", link=link)
            self.workers.append(worker)
            await worker.start()

    async def _stop_all(self) -> None:
        for task in list(self._restarts):
            task.cancel()
        await asyncio.gather(*self._restarts, return_exceptions=True)
        await asyncio.gather(*(w.stop() for w in self.workers))
        await self.server.stop()

    def logs(self) -> str:
        return "\n".join(p.tail() for p in (self.server, *self.workers))

    # --- a round ----------------------------------------------------------------------

    async def _round(self, client: GrpcClient, round_: int) -> None:
        made = [
            make_pipeline(round_ * self.options.pipelines + i, self.rng)
            for i in range(self.options.pipelines)
        ]
        submitted = await asyncio.gather(*(self._submit(client, p) for p in made))
        runs = dict(zip(submitted, made, strict=True))
        self.run_ids += submitted
        done = asyncio.Event()
        faults = asyncio.create_task(self._inject_faults(client, done))
        try:
            await self._wait_finished(client, list(runs), done)
        finally:
            done.set()
            await faults
            await self._settle_processes()
        for run_id, pipeline in runs.items():
            await self._check_run(client, run_id, pipeline)
        injected = sum(self.summary.faults.values())
        self.say(f"chaos: round {round_ + 1}: {len(runs)} runs checked, {injected} faults so far")

    async def _submit(self, client: GrpcClient, pipeline: ChaosPipeline) -> str:
        submitted = await client.submit(
            Submission(file_name=f"{pipeline.name}.yml", yaml_text=pipeline.yaml)
        )
        return submitted.run_id

    async def _wait_finished(
        self, client: GrpcClient, run_ids: list[str], faults_over: asyncio.Event
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.fault_seconds + self.options.settle_seconds
        left = set(run_ids)
        while left:
            if loop.time() > deadline:
                raise AssertionError(f"{len(left)} runs did not finish: {sorted(left)}")
            for run_id in sorted(left):
                with contextlib.suppress(ConnectionFailed):
                    report = await client.run_report(run_id)
                    if report["status"] in ("SUCCESS", "FAILED", "CANCELED"):
                        left.discard(run_id)
            await asyncio.sleep(0.5)

    # --- faults -----------------------------------------------------------------------

    async def _inject_faults(self, client: GrpcClient, done: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        until = loop.time() + self.options.fault_seconds
        names, weights = list(FAULTS), list(FAULTS.values())
        # Each kind of fault once, in a random order, before the weighted draw.
        first = self.rng.sample(names, len(names)) if not self.summary.faults else []
        while not done.is_set() and loop.time() < until:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.rng.uniform(0.5, 3.0)):
                    await done.wait()
            if done.is_set():
                return
            fault = first.pop() if first else self.rng.choices(names, weights)[0]
            if await self._inject(client, fault):
                self.summary.faults[fault] += 1

    async def _inject(self, client: GrpcClient, fault: str) -> bool:
        if fault == SERVER_KILL:
            self.server.signal(signal.SIGKILL)
            await self.server.wait()
            await asyncio.sleep(self.rng.uniform(0.2, 2.0))  # the outage
            await self.server.start()
            await wait_port(self.port)
            return True
        idle = [w for w in self.workers if w not in self._busy and w.running]
        if not idle:
            return False
        worker = self.rng.choice(idle)
        if fault == WORKER_KILL and await self._third_loss(client, worker):
            self.summary.spared += 1
            fault = CUT
        if fault == CUT:
            assert worker.link is not None
            worker.link.cut()
            return True
        sig = signal.SIGKILL if fault == WORKER_KILL else signal.SIGTERM
        worker.signal(sig)
        # Down for a moment after a kill; a drained one comes back once it has gone.
        pause = self.rng.uniform(0.2, 2.0) if sig is signal.SIGKILL else 0.0
        self._later(worker, self._restart(worker, pause))
        return True

    async def _third_loss(self, client: GrpcClient, worker: Process) -> bool:
        """Whether killing ``worker`` may cost a job its third attempt (or it cannot be
        told: the server is away, or the worker is not connected)."""
        try:
            status = await client.status()
        except ConnectionFailed:
            return True
        entry = next((w for w in status["workers"] if w["name"] == worker.name), None)
        if entry is None:
            return True
        return any(r["attempt"] >= MAX_LOST for r in entry["running"])

    def _later(self, worker: Process, work: Awaitable[None]) -> None:
        self._busy.add(worker)

        async def owned() -> None:
            try:
                await work
            finally:
                self._busy.discard(worker)

        task = asyncio.create_task(owned())
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)

    async def _restart(self, worker: Process, pause: float) -> None:
        await worker.wait()
        await asyncio.sleep(pause)
        await worker.start()

    async def _settle_processes(self) -> None:
        """Let pending restarts happen; a server killed last is up again."""
        await asyncio.gather(*self._restarts)
        if not self.server.running:
            await self.server.start()
            await wait_port(self.port)

    # --- checks -----------------------------------------------------------------------

    async def _check_run(self, client: GrpcClient, run_id: str, pipeline: ChaosPipeline) -> None:
        records: list[RecordedEvent] = [r async for r in client.events(run_id)]
        state: RunState = replay(records)
        where = f"run {run_id} ({pipeline.name})"
        finished = Counter(r.event.job for r in records if isinstance(r.event, JobFinished))
        twice = {job: n for job, n in finished.items() if n > 1}
        assert not twice, f"{where}: jobs finished more than once: {twice}"
        got = {name: (js.status.value, js.allowed_failure) for name, js in state.jobs.items()}
        wanted = {name: (e.status, e.allowed) for name, e in pipeline.jobs.items()}
        assert got == wanted, f"{where}: jobs ended {got}, their scripts dictate {wanted}"
        assert state.status.value == pipeline.run_status, f"{where}: run {state.status.value}"
        self.summary.runs += 1
        self.summary.jobs += len(state.jobs)
        self.summary.lost += sum(isinstance(r.event, JobAttemptLost) for r in records)

    async def _verify(self) -> None:
        proc = await asyncio.create_subprocess_exec(
            *XXCI,
            "verify",
            "--server",
            self.address,
            "--token",
            TOKEN,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        text = out.decode(errors="replace")
        assert proc.returncode == 0, f"xxci verify failed:\n{text}"
        assert "hash chain: intact" in text, f"xxci verify did not check the chain:\n{text}"
        self.say(f"chaos: {text.strip().splitlines()[-1]}")

    async def _check_containers(self) -> None:
        """No container of these runs is left once the workers are gone and a worker's
        start-up sweep (of the containers of dead worker processes) has run."""
        executor = DockerExecutor()
        for run_id in self.run_ids:
            self.summary.orphans += len(await executor.remove_orphans({LABEL_RUN: run_id}))
        async with DockerEngine() as engine:
            left = [
                cid
                for run_id in self.run_ids
                for cid in await engine.container_ids({LABEL_RUN: run_id})
            ]
        assert not left, f"containers left behind: {left}"
        async with aiodocker.Docker() as docker:
            networks = [
                net["Name"]
                for run_id in self.run_ids
                for net in await docker.networks.list(filters={"label": f"{LABEL_RUN}={run_id}"})
            ]
        assert not networks, f"networks left behind: {networks}"
