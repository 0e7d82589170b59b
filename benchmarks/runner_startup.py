"""Start-up of ``xxci run --local`` against the number of finished runs in its log.

The log is filled as ``report_queries.py`` fills it (and cached the same way, under
/tmp/xxci-bench/); each count gets a fresh copy as ``$XXCI_HOME/local.db``. Per run,
two times: until the CLI prints its first line (the run was accepted: start-up,
upload and submit are behind it) and until it exits.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from report_queries import filled_copy
from rich.table import Table
from runner_pipelines import contender_env


@dataclass(frozen=True)
class Sample:
    first_line: float
    total: float


def one_run(argv: list[str], cwd: Path, env: dict[str, str]) -> Sample:
    started = time.perf_counter()
    with subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as proc:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        first_line = time.perf_counter() - started
        rest = proc.stdout.read()
        code = proc.wait()
    total = time.perf_counter() - started
    if code != 0:
        output = (first + rest).decode(errors="replace")[-2000:]
        raise RuntimeError(f"{' '.join(argv)} exited {code}:\n{output}")
    return Sample(first_line, total)


def measure_startup(
    xxci: Path,
    repo: Path,
    pipeline: str,
    scratch: Path,
    counts: list[int],
    repeat: int,
    progress: Callable[[str], None],
) -> dict[int, list[Sample]]:
    """``repeat`` samples of a ``run --local`` of ``pipeline`` per count of past runs."""
    results: dict[int, list[Sample]] = {}
    for count in counts:
        home = scratch / f"startup-{count}"
        home.mkdir(parents=True)
        if count:
            asyncio.run(filled_copy(count, home))
        env = contender_env(XXCI_HOME=str(home), PYTHONUNBUFFERED="1")
        argv = [str(xxci), "run", "--local", "--pipeline", pipeline, "--repo", str(repo)]
        results[count] = [one_run(argv, repo, env) for _ in range(repeat)]
        cells = ", ".join(f"{s.first_line:.2f}/{s.total:.2f}" for s in results[count])
        progress(f"start-up, {count:,} past runs (first line/exit): {cells}")
    return results


def growth(results: dict[int, list[Sample]]) -> float:
    """How much later the first line comes with the most past runs than with the fewest."""

    def first(count: int) -> float:
        return statistics.median(s.first_line for s in results[count])

    return first(max(results)) - first(min(results))


def startup_table(results: dict[int, list[Sample]]) -> Table:
    table = Table(title="run --local of 1 job against finished runs already in the log (s)")
    columns = ("past runs", "first line", "min-max", "over empty log", "exit", "min-max")
    for column in columns:
        table.add_column(column, justify="right")
    base = statistics.median(s.first_line for s in results[min(results)])
    for count, samples in results.items():
        first = [s.first_line for s in samples]
        total = [s.total for s in samples]
        table.add_row(
            f"{count:,}",
            f"{statistics.median(first):.2f}",
            f"{min(first):.2f}-{max(first):.2f}",
            f"{statistics.median(first) - base:+.3f}",
            f"{statistics.median(total):.2f}",
            f"{min(total):.2f}-{max(total):.2f}",
        )
    return table
