"""How much the orchestrator itself costs per job, without Docker.

A real orchestrator (SQLite event log, gRPC server on loopback) and real worker agents
run pipelines whose jobs the in-memory fake executor finishes at once, so what is
measured is the engine: appends, fold, scheduling, dispatch, the worker stream.

    .venv/bin/python benchmarks/engine_throughput.py [--jobs 200] [--workers 4]

Prints jobs per second, events per job, the time from submit to the first job's start,
and the orchestrator process's peak memory (ru_maxrss).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.executor import FakeExecutor
from xxci.common.events import run_stream
from xxci.common.spec import load_pipeline_text
from xxci.orchestrator.domain.settings import Settings
from xxci.orchestrator.rpc.server import OrchestratorServer
from xxci.orchestrator.runtime.orchestrator import Orchestrator
from xxci.worker.connection.agent import WorkerAgent


def pipeline_text(jobs: int, stages: int) -> str:
    per_stage = max(1, jobs // stages)
    names = [f"s{i}" for i in range(stages)]
    lines = ["pipeline: {name: bench}", f"stages: [{', '.join(names)}]", "jobs:"]
    for stage in names:
        for j in range(per_stage):
            lines.append(f"  - {{name: {stage}-j{j}, stage: {stage}, image: i, script: [x]}}")
    return "\n".join(lines) + "\n"


async def measure(jobs: int, stages: int, workers: int, capacity: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        orchestrator = Orchestrator(Path(tmp), settings=Settings(heartbeat_interval=1.0))
        server = OrchestratorServer(orchestrator, "127.0.0.1:0")
        await server.start()
        ready = asyncio.Event()
        welcomed: set[str] = set()

        def on_connected(worker_id: str) -> None:
            welcomed.add(worker_id)
            if len(welcomed) == workers:
                ready.set()

        agents = [
            WorkerAgent(
                server.address,
                None,
                f"w{i}",
                capacity,
                [],
                FakeExecutor(),
                Path(tmp) / f"w{i}",
                on_connected=on_connected,
            )
            for i in range(workers)
        ]
        tasks = [asyncio.create_task(a.run()) for a in agents]
        await asyncio.wait_for(ready.wait(), 10)
        pipeline = load_pipeline_text(pipeline_text(jobs, stages), "bench.yml")
        started = time.perf_counter()
        state = await orchestrator.submit(pipeline)
        first_start = 0.0
        while True:
            state = await orchestrator.runs.get(state.run_id)
            if not first_start and any(j.started_at for j in state.jobs.values()):
                first_start = time.perf_counter() - started
            if state.status.finished:
                break
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - started
        events = len(await orchestrator.store.read_stream(run_stream(state.run_id)))
        for agent in agents:
            await agent.stop(drain=False)
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.stop()
        count = len(state.jobs)
        return {
            "jobs": count,
            "seconds": elapsed,
            "jobs_per_second": count / elapsed,
            "events_per_job": events / count,
            "first_start_ms": first_start * 1000,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--stages", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--capacity", type=int, default=8)
    args = parser.parse_args()
    result = asyncio.run(measure(args.jobs, args.stages, args.workers, args.capacity))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'jobs':<22}{result['jobs']:>10.0f}")
    print(f"{'workers x capacity':<22}{args.workers:>7} x {args.capacity}")
    print(f"{'wall time (s)':<22}{result['seconds']:>10.2f}")
    print(f"{'jobs per second':<22}{result['jobs_per_second']:>10.1f}")
    print(f"{'events per job':<22}{result['events_per_job']:>10.1f}")
    print(f"{'submit -> 1st start':<22}{result['first_start_ms']:>8.1f}ms")
    print(f"{'peak RSS (MiB)':<22}{peak_mib:>10.1f}")


if __name__ == "__main__":
    main()
