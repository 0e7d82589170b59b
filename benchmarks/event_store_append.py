"""Throughput of the orchestrator's SQLite stores (a script that prints numbers, not a test).

    .venv/bin/python benchmarks/event_store_append.py [--events 20000] [--runs 10000]

Measures, on a fresh file in a temp dir (pass --dir to choose the disk):
  * durable appends (synchronous=FULL): single-event appends/s from 1 and from 20
    concurrent runs (each its own stream and task; concurrent appends share one
    transaction, so the rate should grow with the number of runs; target: 5,000
    events/s at 20);
  * single-event appends/s, one task, with synchronous=FULL (the default) and NORMAL;
  * appends/s from 8 concurrent tasks on different streams, and 10-event batches;
  * read_all throughput (events/s), whole log and in pages of 1000 as a follower reads;
  * replay (events/s): every run stream read back and folded into its state, as
    start-up, verify and the reports do (target: 150,000 events/s);
  * the run index with --runs runs: append_run_created/s, find_runs and streams latency;
  * log chunks/s through LogStore.append (1 and 50 tasks) and append_many.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from xxci.common.events import (
    Event,
    JobAssigned,
    JobFinished,
    JobQueued,
    JobStarted,
    RunCreated,
    StageStarted,
    StepFinished,
    run_stream,
)
from xxci.orchestrator.domain.fold import replay
from xxci.orchestrator.store import EventStore, LogChunk, LogStore
from xxci.orchestrator.store._sqlite import Synchronous

PIPELINE = {
    "name": "bench",
    "stages": ["build", "test"],
    "jobs": [
        {"name": f"job{i}", "stage": "build", "image": "python:3.12", "script": ["make"] * 3}
        for i in range(5)
    ],
}


def job_events(i: int) -> list[Event]:
    """A realistic mix of the events one job produces."""
    job = f"job{i % 5}"
    return [
        JobQueued(job),
        JobAssigned(job, 1, "worker-1", "host", 30.0),
        JobStarted(job, 1, "container-id", "sha256:" + "ab" * 32),
        StepFinished(job, 1, 0, 0),
        JobFinished(job, 1, "SUCCESS", 0),
    ]


def report(label: str, count: int, seconds: float, unit: str = "appends") -> None:
    print(f"  {label:<46} {count / seconds:>11,.0f} {unit}/s   ({count:,} in {seconds:.2f}s)")


async def timed(fn: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await fn()
    return time.perf_counter() - started


async def bench_appends(path: Path, events: int, synchronous: Synchronous) -> None:
    store = await EventStore.open(path, synchronous=synchronous)
    try:
        pool = [e for i in range(events // 5 + 1) for e in job_events(i)][:events]

        async def sequential() -> None:
            for version, event in enumerate(pool):
                await store.append("run:seq", version, [event])

        report(f"append 1 event, 1 task ({synchronous})", events, await timed(sequential))

        async def concurrent() -> None:
            async def writer(w: int) -> None:
                for version, event in enumerate(pool[w::8]):
                    await store.append(f"run:conc{w}", version, [event])

            await asyncio.gather(*(writer(w) for w in range(8)))

        report(f"append 1 event, 8 tasks ({synchronous})", events, await timed(concurrent))

        async def batched() -> None:
            for n, start in enumerate(range(0, events, 10)):
                await store.append("run:batch", n * 10, pool[start : start + 10])

        report(f"append 10-event batches ({synchronous})", events, await timed(batched), "events")
    finally:
        await store.close()


async def bench_durable(path: Path, events: int) -> None:
    """Single-event appends with synchronous=FULL from 1 and from 20 concurrent runs."""
    pool = [e for i in range(events // 5 + 1) for e in job_events(i)][:events]
    for runs in (1, 20):
        async with await EventStore.open(path.with_suffix(f".{runs}.db")) as store:

            async def run(r: int, store: EventStore, runs: int) -> None:
                for version, event in enumerate(pool[r::runs]):
                    await store.append(f"run:durable{r}", version, [event])

            started, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(run(r, store, runs) for r in range(runs)))
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            label = f"durable, 1 event per append, {runs} concurrent runs"
            report(label, events, seconds, "events")
            # CPU time (both threads): the rate an unshared machine would allow, fsync aside
            report(f"  ... per CPU second ({runs} runs)", events, cpu, "events")


async def bench_replay(path: Path) -> None:
    """The whole log read back in seq order (pages of 10,000, decoded), and every run
    read back and folded into its state. Wall-clock and CPU-time rates: on a shared
    machine the second says what the code costs."""
    async with await EventStore.open(path) as store:
        wall, cpu = time.perf_counter(), time.process_time()
        total, cursor = 0, 0
        while page := await store.read_all(since_seq=cursor, limit=10_000):
            cursor = page[-1].seq
            total += len(page)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        report("replay the log (read_all + decode), wall", total, wall, "events")
        report("replay the log (read_all + decode), CPU", total, cpu, "events")

        rows = await store.find_runs()
        wall, cpu = time.perf_counter(), time.process_time()
        folded = 0
        for start in range(0, len(rows), 200):
            chunk = await store.read_streams([r.stream for r in rows[start : start + 200]])
            for records in chunk.values():
                replay(records)
                folded += len(records)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        report(f"replay {len(rows):,} runs (read + fold), wall", folded, wall, "events")
        report(f"replay {len(rows):,} runs (read + fold), CPU", folded, cpu, "events")


async def bench_reads(path: Path) -> None:
    async with await EventStore.open(path) as store:
        total = await store.last_seq()
        seconds = await timed(store.read_all)
        report("read_all, whole log", total, seconds, "events")

        async def paged() -> None:
            cursor = 0
            while batch := await store.read_all(since_seq=cursor, limit=1000):
                cursor = batch[-1].seq

        report("read_all, pages of 1000", total, await timed(paged), "events")
        seconds = await timed(lambda: store.read_stream("run:seq"))
        report(
            "read_stream, one stream", len(await store.read_stream("run:seq")), seconds, "events"
        )


async def bench_runs(path: Path, runs: int) -> None:
    async with await EventStore.open(path) as store:

        def make(run_id: str) -> Callable[[int], RunCreated]:
            return lambda n: RunCreated(run_id, PIPELINE, n, repo=f"/repo{len(run_id) % 3}")

        async def create() -> None:
            for i in range(runs):
                await store.append_run_created(f"r{i}", make(f"r{i}"))
                await store.append(run_stream(f"r{i}"), 1, [StageStarted("build"), *job_events(i)])

        seconds = await timed(create)
        report("append_run_created + 6 events per run", runs, seconds, "runs")

        queries: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("find_runs(pipeline, number)", lambda: store.find_runs("bench", number=runs // 2)),
            ("find_runs(repo, limit=20)", lambda: store.find_runs(repo="/repo1", limit=20)),
            (f"find_runs() -> all {runs:,} rows", store.find_runs),
            ("next_run_number(pipeline)", lambda: store.next_run_number("bench")),
            (f"streams('run:') -> {runs:,} names", lambda: store.streams("run:")),
        ]
        for label, query in queries:
            samples = [await timed(query) for _ in range(20)]
            print(f"  {label:<46} median {statistics.median(samples) * 1000:8.2f} ms")


async def bench_logs(path: Path, chunks: int) -> None:
    async with await LogStore.open(path) as logs:
        data = b"x" * 200 + b"\n"

        async def single() -> None:
            for seq in range(1, chunks + 1):
                await logs.append("r", "job", 1, seq, "stdout", data)

        report("LogStore.append, 1 chunk, 1 task (NORMAL)", chunks, await timed(single), "chunks")

        async def concurrent() -> None:
            async def job(j: int) -> None:
                for seq in range(1, chunks // 50 + 1):
                    await logs.append("r", f"job{j}", 1, seq, "stdout", data)

            await asyncio.gather(*(job(j) for j in range(50)))

        total = chunks // 50 * 50
        report("LogStore.append, 1 chunk, 50 tasks", total, await timed(concurrent), "chunks")

        async def many() -> None:
            for start in range(1, chunks + 1, 100):
                await logs.append_many(
                    LogChunk("r", "job", 2, seq, "stdout", data, datetime.now(UTC))
                    for seq in range(start, min(start + 100, chunks + 1))
                )

        report("LogStore.append_many, 100 chunks each", chunks, await timed(many), "chunks")


async def main() -> None:
    parser = argparse.ArgumentParser(description="Throughput of the orchestrator's stores.")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--dir", type=Path, default=None, help="where to put the files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        print(f"durable appends ({args.events:,} events per line, file in {root})")
        await bench_durable(root / "durable", args.events)
        print(f"event store appends ({args.events:,} events per line, file in {root})")
        await bench_appends(root / "normal.db", args.events, "NORMAL")
        await bench_appends(root / "full.db", args.events, "FULL")
        print("reads")
        await bench_reads(root / "full.db")
        print(f"run index ({args.runs:,} runs)")
        await bench_runs(root / "runs.db", args.runs)
        print("replay")
        await bench_replay(root / "runs.db")
        print("logs")
        await bench_logs(root / "logs.db", args.events)


if __name__ == "__main__":
    asyncio.run(main())
