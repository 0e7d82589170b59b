"""How fast xxci recovers, with the defaults of ``xxci server`` (real processes, jobs in
Docker):

- **worker kill -9 -> new attempt started**: a job runs on one of two workers; its
  worker is killed with SIGKILL; the time from the kill until the job's next attempt
  has started (its ``JobStarted``) on the other worker.
- **server restart -> runs moving**: a job finishes while the server is down
  (SIGKILL); the time from the new server accepting connections until the run moves
  again (the result is recorded and the next job is assigned), and from starting the
  server's process. The job's duration as recorded is printed beside its true one.

    python benchmarks/failover.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from xxci.cli.client.remote import GrpcClient
from xxci.common.api import Submission
from xxci.common.errors import ConnectionFailed
from xxci.common.events import JobAssigned, JobFinished, JobStarted, RecordedEvent
from xxci.orchestrator.domain.fold import replay
from xxci.worker.docker.container_config import LABEL_RUN
from xxci.worker.docker.engine import DockerEngine

XXCI = [sys.executable, "-m", "xxci.cli"]
TOKEN = "failover"
IMAGE = "xxci-test/busybox:latest"

LONG = f"""
pipeline: {{name: failover-kill}}
stages: [test]
default: {{image: {IMAGE}}}
jobs:
  - {{name: long, stage: test, script: ["sleep 60"]}}
"""

TWO = f"""
pipeline: {{name: failover-restart}}
stages: [first, second]
default: {{image: {IMAGE}}}
jobs:
  - {{name: first, stage: first, script: ["sleep 3"]}}
  - {{name: second, stage: second, script: ["true"]}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Processes:
    """The server (on a fixed port, so it can be restarted) and the workers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.server: asyncio.subprocess.Process | None = None
        self.workers: dict[str, asyncio.subprocess.Process] = {}

    async def _spawn(self, name: str, *args: str) -> asyncio.subprocess.Process:
        with (self.root / f"{name}.log").open("ab") as log:
            return await asyncio.create_subprocess_exec(
                *XXCI, *args, stdout=log, stderr=asyncio.subprocess.STDOUT, env=dict(os.environ)
            )

    async def start_server(self) -> float:
        """Start the server; the seconds from its start until it accepts connections."""
        began = time.monotonic()
        self.server = await self._spawn(
            "server", "server", "--listen", self.address, "--data-dir",
            str(self.root / "data"), "--token", TOKEN,
        )  # fmt: skip
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.01)
                continue
            writer.close()
            return time.monotonic() - began

    async def start_worker(self, name: str) -> None:
        self.workers[name] = await self._spawn(
            name, "worker", "--server", self.address, "--token", TOKEN, "--name", name,
            "--capacity", "1", "--work-dir", str(self.root / name),
        )  # fmt: skip

    async def stop(self) -> None:
        for proc in [*self.workers.values(), self.server]:
            if proc is not None and proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*self.workers.values(), self.server]:
            if proc is not None:
                try:
                    async with asyncio.timeout(30):
                        await proc.wait()
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


async def watch(client: GrpcClient, run_id: str) -> AsyncIterator[RecordedEvent]:
    """The run's events as they come, across lost connections (each once)."""
    seen = 0
    while True:
        try:
            async for rec in client.watch(run_id):
                if rec.version > seen:
                    seen = rec.version
                    yield rec
            return
        except ConnectionFailed:
            await asyncio.sleep(0.05)


def at(rec: RecordedEvent) -> float:
    return rec.at.timestamp()


async def submit(client: GrpcClient, text: str) -> str:
    return (await client.submit(Submission(file_name="failover.yml", yaml_text=text))).run_id


async def kill_a_worker(procs: Processes, client: GrpcClient) -> tuple[float, float]:
    """Seconds from a worker's kill -9 to its job's loss, and to the next attempt's start."""
    run_id = await submit(client, LONG)
    killed = lost_at = 0.0
    async for rec in watch(client, run_id):
        event = rec.event
        if isinstance(event, JobStarted) and event.attempt == 1:
            worker = replay([r async for r in client.events(run_id)]).jobs["long"].worker_name
            killed = time.time()
            procs.workers[worker].send_signal(signal.SIGKILL)
            await procs.workers[worker].wait()
            await procs.start_worker(worker)  # back, for the next round
        elif event.type == "JobAttemptLost":
            lost_at = at(rec)
        elif isinstance(event, JobStarted) and event.attempt == 2:
            started = at(rec)
            await client.cancel(run_id)
            return lost_at - killed, started - killed
    raise RuntimeError("the run ended before a second attempt started")


async def restart_the_server(
    procs: Processes, client: GrpcClient
) -> tuple[float, float, float, float]:
    """Seconds from the restarted server accepting connections until the run moves on
    (the first job's result recorded, the next job assigned), the first job's recorded
    duration (it slept 3 s), and the server's start-up (process to accepting)."""
    run_id = await submit(client, TWO)
    events = watch(client, run_id)
    async for rec in events:
        if isinstance(rec.event, JobStarted):
            break
    assert procs.server is not None
    procs.server.send_signal(signal.SIGKILL)
    await procs.server.wait()
    # Down until the job is over and its container gone (its result waits in the worker).
    async with DockerEngine() as engine:
        while await engine.container_ids({LABEL_RUN: run_id}):  # noqa: ASYNC110 - polls Docker
            await asyncio.sleep(0.05)
    await asyncio.sleep(2)  # a longer outage than the job's end
    startup = await procs.start_server()
    up = time.time()
    result = assigned = 0.0
    async for rec in events:
        if isinstance(rec.event, JobFinished) and rec.event.job == "first":
            result = at(rec)
        if isinstance(rec.event, JobAssigned) and rec.event.job == "second":
            assigned = at(rec)
            break
    state = replay([r async for r in client.events(run_id)])
    first = state.jobs["first"]
    assert first.started_at is not None and first.finished_at is not None
    took = (first.finished_at - first.started_at).total_seconds()
    return result - up, assigned - up, took, startup


def describe(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f}s, max {max(values):.2f}s"


async def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="xxci-failover-") as tmp:
        procs = Processes(Path(tmp))
        await procs.start_server()
        for name in ("f1", "f2"):
            await procs.start_worker(name)
        try:
            async with GrpcClient(procs.address, TOKEN) as client:
                losses, restarts = [], []
                for _ in range(rounds):
                    losses.append(await kill_a_worker(procs, client))
                for _ in range(rounds):
                    restarts.append(await restart_the_server(procs, client))
        finally:
            await procs.stop()
    print(f"failover with the defaults of xxci server, {rounds} rounds each")
    print(f"  worker kill -9 -> attempt lost:         {describe([a for a, _ in losses])}")
    print(f"  worker kill -9 -> new attempt started:  {describe([b for _, b in losses])}")
    print(f"  server accepting -> result recorded:    {describe([r[0] for r in restarts])}")
    print(f"  server accepting -> next job assigned:  {describe([r[1] for r in restarts])}")
    print(f"  server process start -> accepting:      {describe([r[3] for r in restarts])}")
    took = describe([r[2] for r in restarts])
    print(f"  a 3 s job that ended while the server was down, recorded as: {took}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args().rounds))
