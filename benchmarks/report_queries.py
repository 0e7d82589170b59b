"""How fast report queries stay as history grows (a script that prints numbers).

    .venv/bin/python benchmarks/report_queries.py [--runs 10000] [--repeat 5]   # make bench

Fills a log with --runs finished runs of 4 pipelines (3 stages, 5 jobs, 39 events
each; one run in ten fails a job and skips the last stage), written with
``EventStore.append_run_created`` and ``append`` (one append per stage). The filled
file is kept under /tmp/xxci-bench/ keyed by the parameters, so a rerun skips the
fill; each run of the benchmark works on a fresh copy of it.

Then it times, through the same query functions the CLI calls:

* the full listing (``xxci report``): once cold (an empty report cache: every run is
  replayed, then cached) and warm;
* ``report --pipeline P``, ``report --pipeline P --run N``, a stage and a job of one
  run, and a job across the last 100 runs;
* ``status`` (finding the runs in flight) and ``verify`` (replaying everything);
* and the CLI end to end (``xxci report --local ...`` in a subprocess, start-up and
  rendering included).

Targets: one run's report under 200 ms; the full listing under 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from xxci.common.api import ReportQuery
from xxci.common.events import (
    Event,
    JobAssigned,
    JobFinished,
    JobQueued,
    JobStarted,
    RunCreated,
    RunFinished,
    StageFinished,
    StageStarted,
    StepFinished,
    run_stream,
)
from xxci.orchestrator.store import EventStore, ReportCache
from xxci.orchestrator.views.queries import query_report, unfinished_runs
from xxci.orchestrator.views.verify import verify_log

FILL_VERSION = 2  # bump when the generated history changes
PIPELINES = ["api", "web", "worker", "docs"]
STAGES = {"build": ["compile"], "test": ["unit", "lint", "integration"], "deploy": ["ship"]}
STEPS = {"compile": 3, "unit": 3, "lint": 2, "integration": 2, "ship": 1}
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def spec(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "stages": list(STAGES),
        "jobs": [
            {
                "name": job,
                "stage": stage,
                "image": "python:3.12-slim",
                "script": [f"make {job} step={i}" for i in range(STEPS[job])],
                "needs": ["unit"] if job == "integration" else [],
                "allow_failure": {"allowed": job == "lint", "exit_codes": []},
                "timeout_seconds": 1800,
            }
            for stage, jobs in STAGES.items()
            for job in jobs
        ],
    }


def job_events(job: str, exit_code: int, worker: str) -> list[Event]:
    steps = [StepFinished(job, 1, i, 0) for i in range(STEPS[job] - 1)]
    status = "SUCCESS" if exit_code == 0 else "FAILED"
    return [
        JobQueued(job, 1),
        JobAssigned(job, 1, worker, worker, 30.0),
        JobStarted(job, 1, f"container-{job}", "sha256:" + "ab" * 32),
        *steps,
        StepFinished(job, 1, STEPS[job] - 1, exit_code),
        JobFinished(
            job, 1, status, exit_code, "" if exit_code == 0 else "script_failure", job == "lint"
        ),
    ]


def stage_batches(index: int) -> list[list[Event]]:
    """The events of one run after RunCreated, one batch per stage."""
    fails = index % 10 == 9
    worker = f"worker-{index % 7}"
    build = [StageStarted("build"), *job_events("compile", 0, worker)]
    build.append(StageFinished("build", "SUCCESS"))
    test: list[Event] = [StageStarted("test")]
    for job in STAGES["test"]:
        test += job_events(job, 2 if fails and job == "unit" else 0, worker)
    if fails:
        test.append(StageFinished("test", "FAILED"))
        tail: list[Event] = [
            StageFinished("deploy", "SKIPPED"),
            JobFinished("ship", 0, "SKIPPED"),
            RunFinished("FAILED"),
        ]
        return [build, test, tail]
    test.append(StageFinished("test", "SUCCESS"))
    deploy = [StageStarted("deploy"), *job_events("ship", 0, worker)]
    return [build, test, [*deploy, StageFinished("deploy", "SUCCESS"), RunFinished("SUCCESS")]]


async def fill(path: Path, runs: int) -> int:
    """Write ``runs`` finished runs; returns the number of events."""
    store = await EventStore.open(path, synchronous="NORMAL")
    specs = {name: spec(name) for name in PIPELINES}
    events = 0
    try:
        for i in range(runs):
            name = PIPELINES[i % len(PIPELINES)]
            run_id = f"r{i:07d}"
            at = T0 + timedelta(minutes=10 * i)

            def make(number: int, i: int = i, run_id: str = run_id, name: str = name) -> RunCreated:
                return RunCreated(
                    run_id=run_id,
                    pipeline=specs[name],
                    number=number,
                    repo="example/monorepo",
                    branch="main" if i % 3 else "feature",
                    commit=hashlib.sha1(run_id.encode()).hexdigest(),
                )

            await store.append_run_created(run_id, make, at=at)
            version = 1
            for n, batch in enumerate(stage_batches(i), start=1):
                await store.append(
                    run_stream(run_id), version, batch, at=at + timedelta(seconds=95 * n)
                )
                version += len(batch)
            events += version
            if (i + 1) % 1000 == 0:
                print(f"  filled {i + 1:,} runs", file=sys.stderr)
    finally:
        await store.close()
    return events


async def filled_copy(runs: int, home: Path) -> Path:
    """``home/local.db``: a fresh copy of the (cached) filled log."""
    cache_dir = Path(tempfile.gettempdir()) / "xxci-bench"
    cache_dir.mkdir(exist_ok=True)
    source = cache_dir / f"report-queries-{runs}-runs-v{FILL_VERSION}.db"
    if not source.exists():
        print(f"filling a log with {runs:,} runs (once; kept as {source})", file=sys.stderr)
        partial = source.with_suffix(".partial")
        for leftover in partial.parent.glob(partial.name + "*"):
            leftover.unlink()
        started = time.perf_counter()
        events = await fill(partial, runs)  # closing the last connection folds the WAL in
        partial.rename(source)
        print(f"  {events:,} events in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    target = home / "local.db"
    shutil.copyfile(source, target)
    return target


Timing = tuple[str, list[float], str]


async def timed(
    label: str, fn: Callable[[], Awaitable[object]], repeat: int, note: str = ""
) -> Timing:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - started)
    return label, times, note


def cli(home: Path, *args: str) -> Callable[[], Awaitable[object]]:
    env = {**os.environ, "XXCI_HOME": str(home)}

    async def call() -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "xxci.cli", *args,
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"xxci {' '.join(args)} failed: {err.decode()}")

    return call


async def main(runs: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="xxci-bench-") as tmp:
        home = Path(tmp)
        path = await filled_copy(runs, home)
        store = await EventStore.open(path)
        cache = await ReportCache.open(path)
        last = await store.last_seq()
        pipeline = PIPELINES[0]
        newest = (await store.find_runs(pipeline=pipeline, limit=1))[0].number
        middle = (await store.find_runs(pipeline=pipeline, number=newest // 2))[0]
        mid_run = middle.created_seq + 20  # that run's stage test is under way

        def query(**filters: Any) -> Callable[[], Awaitable[object]]:
            return lambda: query_report(store, cache, ReportQuery(**filters))

        results: list[Timing] = []
        try:
            results.append(
                await timed(
                    "report (full listing), cold cache",
                    query(),
                    1,
                    f"replays and caches all {runs:,} runs",
                )
            )
            results += [
                await timed("report (full listing)", query(), repeat, f"{runs:,} runs"),
                await timed(
                    f"report --pipeline {pipeline}",
                    query(pipeline=pipeline),
                    repeat,
                    f"{runs // len(PIPELINES):,} runs with stages",
                ),
                await timed(
                    f"report --pipeline {pipeline} --run {newest}",
                    query(pipeline=pipeline, run=newest),
                    repeat,
                ),
                await timed(
                    "  ... --stage test --job unit",
                    query(pipeline=pipeline, run=newest, stage="test", job="unit"),
                    repeat,
                ),
                await timed(
                    f"report --pipeline {pipeline} --run {middle.number} --at {mid_run}",
                    query(pipeline=pipeline, run=middle.number, at_seq=mid_run),
                    repeat,
                    "replayed up to that event",
                ),
                await timed(
                    f"report --pipeline {pipeline} --stage test --job unit --last 100",
                    query(pipeline=pipeline, stage="test", job="unit", last=100),
                    repeat,
                ),
                await timed("status (runs in flight)", lambda: unfinished_runs(store), repeat),
                await timed(
                    "verify (whole log)",
                    lambda: verify_log(store, cache, None),
                    1,
                    f"replays {runs:,} runs",
                ),
            ]
        finally:
            await cache.close()
            await store.close()
        startup = await timed("xxci --version (start-up alone)", cli(home, "--version"), repeat)
        results += [
            startup,
            await timed("xxci report --local", cli(home, "report", "--local"), repeat, "text"),
            await timed(
                "xxci report --local --format json",
                cli(home, "report", "--local", "--format", "json"),
                repeat,
            ),
            await timed(
                f"xxci report --local --pipeline {pipeline} --run {newest}",
                cli(home, "report", "--local", "--pipeline", pipeline, "--run", str(newest)),
                repeat,
            ),
        ]
    print(f"\n{runs:,} runs, {last:,} events (about {last // runs} per run); {repeat} repeats\n")
    print(f"{'query':<62} {'median':>9} {'min':>9} {'max':>9}  note")
    for label, times, note in results:
        cells = [f"{statistics.median(times) * 1000:>7.1f}ms"]
        cells += [f"{min(times) * 1000:>7.1f}ms", f"{max(times) * 1000:>7.1f}ms"]
        print(f"{label:<62} {' '.join(f'{c:>9}' for c in cells)}  {note}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000, help="finished runs in the log")
    parser.add_argument("--repeat", type=int, default=5, help="timings per query")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.repeat))
