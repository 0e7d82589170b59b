"""The event store on SQLite against PostgreSQL, with one and with two orchestrators (a
script that prints numbers, not a test).

    .venv/bin/python benchmarks/shared_store.py [--appends 2000] [--runs 40]

Starts a throwaway PostgreSQL cluster that fsyncs as a production one does
(``fsync=on``, ``synchronous_commit=on``), on the same disk as the SQLite file
(``synchronous=FULL``), and measures:

  * durable appends per second: single-event appends from 20 concurrent streams, in
    one process (one orchestrator) and, on PostgreSQL, from two processes at once
    (two orchestrators sharing the log; SQLite serves one orchestrator per file);
  * jobs per second end to end: real `xxci server` processes (one on SQLite, one on
    PostgreSQL, two on PostgreSQL), four workers in this process whose fake executor
    finishes each job at once (so the engine is measured, not Docker), ``--runs``
    runs of a 4-job, 2-stage pipeline submitted round-robin to the servers.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.cluster import TOKEN, XXCI, free_port, wait_port
from tests.fakes.executor import FakeExecutor
from tests.postgres import PostgresCluster
from xxci.cli.client.remote import GrpcClient
from xxci.common.api import Submission
from xxci.common.events import JobQueued, RunFinished
from xxci.orchestrator.store import EventStorage, EventStore
from xxci.orchestrator.store.postgres import PgEventStore
from xxci.worker.connection.agent import WorkerAgent

STREAMS = 20

PIPELINE = """
pipeline: {name: bench}
stages: [a, b]
jobs:
  - {name: a1, stage: a, image: i, script: [x]}
  - {name: a2, stage: a, image: i, script: [x]}
  - {name: b1, stage: b, image: i, script: [x]}
  - {name: b2, stage: b, image: i, script: [x]}
"""


# --- durable appends --------------------------------------------------------------------


async def _append_many(store: EventStorage, prefix: str, appends: int) -> None:
    async def one_stream(s: int) -> None:
        for version in range(appends // STREAMS):
            await store.append(f"{prefix}-{s}", version, [JobQueued(job="j")])

    await asyncio.gather(*(one_stream(s) for s in range(STREAMS)))


async def _open(where: str) -> EventStorage:
    if where.startswith("postgresql://"):
        return await PgEventStore.open(where)
    return await EventStore.open(Path(where))


def _appender(where: str, prefix: str, appends: int, start: object, done: object) -> None:
    """One orchestrator's process: open, wait for the start, append, report seconds."""

    async def run() -> float:
        store = await _open(where)
        try:
            start.wait()  # type: ignore[attr-defined]
            began = time.perf_counter()
            await _append_many(store, prefix, appends)
            return time.perf_counter() - began
        finally:
            await store.close()

    done.put(asyncio.run(run()))  # type: ignore[attr-defined]


def appends_per_second(where: str, processes: int, appends: int) -> float:
    """Total appends per second from ``processes`` processes appending at once."""
    ctx = multiprocessing.get_context("spawn")
    start, done = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_appender, args=(where, f"p{i}", appends, start, done))
        for i in range(processes)
    ]
    for proc in procs:
        proc.start()
    time.sleep(3)  # every process has opened its store
    began = time.perf_counter()
    start.set()
    for _ in procs:
        done.get(timeout=600)
    elapsed = time.perf_counter() - began
    for proc in procs:
        proc.join()
    return processes * (appends // STREAMS * STREAMS) / elapsed


# --- jobs per second --------------------------------------------------------------------


def _start_server(tmp: Path, index: int, store: str | None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    args = [*XXCI, "server", "--listen", f"127.0.0.1:{port}", "--token", TOKEN]
    args += ["--data-dir", str(tmp / f"data-{index}")]
    if store:
        args += ["--store", store]
    log = open(tmp / f"server-{index}.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    wait_port(port)
    return proc, f"127.0.0.1:{port}"


async def jobs_per_second(tmp: Path, store: str | None, servers: int, runs: int) -> float:
    started = [_start_server(tmp, i, store) for i in range(servers)]
    addresses = [address for _, address in started]
    try:
        agents = [
            WorkerAgent(
                ",".join(addresses[i % servers :] + addresses[: i % servers]),
                TOKEN,
                f"w{i}",
                8,
                [],
                FakeExecutor(),
                tmp / f"w{i}",
            )
            for i in range(4)
        ]
        tasks = [asyncio.create_task(a.run()) for a in agents]
        await asyncio.sleep(2)  # workers connect
        began = time.perf_counter()
        run_ids = []
        for i in range(runs):
            async with GrpcClient(addresses[i % servers], TOKEN) as client:
                run_ids.append((await client.submit(Submission("b.yml", PIPELINE))).run_id)
        async with GrpcClient(addresses[0], TOKEN) as client:
            for run_id in run_ids:
                async for rec in client.watch(run_id):
                    if isinstance(rec.event, RunFinished):
                        assert rec.event.status == "SUCCESS", rec
        elapsed = time.perf_counter() - began
        for agent in agents:
            await agent.stop(drain=False)
        await asyncio.gather(*tasks, return_exceptions=True)
        return runs * 4 / elapsed
    finally:
        for proc, _ in started:
            proc.terminate()
            proc.wait(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=2000, help="per orchestrator")
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    cluster = PostgresCluster.start(durable=True)
    rows: list[tuple[str, str, float]] = []
    try:
        with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
            base = Path(tmp)
            sqlite = str(base / "appends.db")
            rows.append(
                (
                    "durable appends/s",
                    "SQLite, 1 orchestrator",
                    appends_per_second(sqlite, 1, args.appends),
                )
            )
            for n in (1, 2):
                url = cluster.new_database()
                rows.append(
                    (
                        "durable appends/s",
                        f"PostgreSQL, {n} orchestrator(s)",
                        appends_per_second(url, n, args.appends),
                    )
                )
            for label, store, servers in (
                ("SQLite, 1 orchestrator", None, 1),
                ("PostgreSQL, 1 orchestrator", cluster.new_database(), 1),
                ("PostgreSQL, 2 orchestrators", cluster.new_database(), 2),
            ):
                sub = base / label.replace(" ", "_").replace(",", "")
                sub.mkdir()
                rows.append(
                    ("jobs/s", label, asyncio.run(jobs_per_second(sub, store, servers, args.runs)))
                )
    finally:
        cluster.stop()
    for what, shape, value in rows:
        print(f"{what:<20}{shape:<32}{value:>10.1f}")


if __name__ == "__main__":
    main()
