"""Start-up against history: does resuming cost more as finished runs pile up?

    .venv/bin/python benchmarks/startup_history.py [--runs 0,1000,10000] [--repeat 5]

For each count N, a log holding N finished runs (the history of
``report_queries.py``: 39 events each, filled once and kept under /tmp/xxci-bench/)
plus one unfinished run is copied fresh, and ``Orchestrator.start()`` (what ``xxci
server`` and ``xxci run --local`` do first: open the stores, resume the unfinished
runs) is timed, then ``stop()``. It prints the median, the spread and the difference
from the empty log; the target is a flat line (within 50 ms from 0 to 10,000 runs).

For contrast, ``replay all`` times what start-up did before the run index knew which
runs are live: read and fold every run of the log to find the unfinished ones.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_queries import PIPELINES, filled_copy, spec

from xxci.common.events import RunCreated, StageStarted, run_stream
from xxci.orchestrator.domain.fold import replay
from xxci.orchestrator.runtime.orchestrator import Orchestrator
from xxci.orchestrator.store import EventStore


async def prepare(runs: int, root: Path) -> Path:
    """A log with ``runs`` finished runs and one live one, kept as ``root/source.db``."""
    if runs:
        await filled_copy(runs, root)
        (root / "local.db").rename(root / "source.db")
    async with await EventStore.open(root / "source.db", synchronous="NORMAL") as store:
        live = spec(PIPELINES[0])
        await store.append_run_created(
            "live", lambda n: RunCreated("live", live, n, repo="example/monorepo")
        )
        await store.append(run_stream("live"), 1, [StageStarted("build")])
    return root / "source.db"


def fresh_copy(source: Path, data: Path) -> None:
    """A copy of ``source``, flushed to disk: otherwise start-up's first fsync would
    write out the whole freshly copied file and time the copy, not the start-up."""
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir()
    shutil.copyfile(source, data / "events.db")
    with open(data / "events.db", "rb+") as copy:
        os.fsync(copy.fileno())


async def time_start(source: Path, data: Path) -> float:
    fresh_copy(source, data)
    orchestrator = Orchestrator(data)
    started = time.perf_counter()
    await orchestrator.start()
    seconds = time.perf_counter() - started
    if [s.run_id for s in orchestrator.runs.active()] != ["live"]:
        raise SystemExit("start-up did not resume exactly the one live run")
    await orchestrator.stop()
    return seconds


async def time_replay_all(source: Path) -> float:
    async with await EventStore.open(source) as store:
        started = time.perf_counter()
        live = []
        for row in await store.find_runs():
            state = replay(await store.read_stream(row.stream))
            if not state.finished:
                live.append(state)
        return time.perf_counter() - started


async def main(counts: list[int], repeat: int) -> None:
    logging.disable(logging.INFO)  # "resumed 1 unfinished run(s)" on every start
    print(f"Orchestrator.start() with one live run, median of {repeat} (ms)")
    print(
        f"  {'finished runs':>13} {'start()':>9} {'min-max':>15} {'vs empty':>9} {'replay all':>11}"
    )
    baseline: float | None = None
    for runs in counts:
        with tempfile.TemporaryDirectory(prefix="xxci-startup-") as tmp:
            root = Path(tmp)
            source = await prepare(runs, root)
            samples = [await time_start(source, root / "data") for _ in range(repeat)]
            replay_all = await time_replay_all(source)
        median = statistics.median(samples) * 1000
        baseline = median if baseline is None else baseline
        spread = f"{min(samples) * 1000:.1f}-{max(samples) * 1000:.1f}"
        print(
            f"  {runs:>13,} {median:>9.1f} {spread:>15} {median - baseline:>+9.1f}"
            f" {replay_all * 1000:>11.0f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="0,1000,10000", help="comma-separated counts")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main([int(n) for n in args.runs.split(",")], args.repeat))
