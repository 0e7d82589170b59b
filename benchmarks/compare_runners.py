"""Side by side: xxci against bare Docker calls and gitlab-ci-local, on the same jobs.

    .venv/bin/python benchmarks/compare_runners.py [--rounds 5] [--startup-runs 0,1000,10000]
    make bench    # installs gitlab-ci-local and what it needs first (make bench-tools)

Contenders, each run as its own process and timed from spawn to exit:

* ``bare``: ``benchmarks/bare_docker.py``, aiodocker's create/start/wait/remove per
  job, each wave of jobs at once: the floor any runner on this engine stands on;
* ``local``: ``xxci run --local`` (a fresh ``$XXCI_HOME``);
* ``server``: ``xxci run --server`` against one ``xxci server`` and two ``xxci worker``
  processes started beforehand (capacity: half the widest wave each);
* ``gitlab-ci-local``: the npm package pinned in ``benchmarks/gitlab-ci-local/``, with
  ``--pull-policy if-not-present`` (no registry needed: its helper image is the test
  image under the name ``firecow/gitlab-ci-local-util:latest``).

Pipelines (jobs ``echo hello`` then ``true`` on the busybox test image): 4 stages x 5
jobs, 1 stage x 20 jobs, a 10-job ``needs`` chain, and one job of 3 commands. After a
warm-up round, every contender runs every pipeline once per round, for ``--rounds``
rounds, the contender that starts each round rotating. The table shows medians,
min-max, the ratio of medians to bare, each round's ratio and the milliseconds per job
over bare, then the targets. Last, the start-up of ``run --local`` (a one-job run,
from the outside: until its first line and until it exits) against the number of
finished runs already in its log (filled as ``report_queries.py`` fills it, and cached
the same way); ``startup_history.py`` times ``Orchestrator.start()`` alone on such logs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from runner_cluster import Cluster  # noqa: E402
from runner_pipelines import PIPELINES, Pipeline, contender_env  # noqa: E402
from runner_startup import Sample, growth, measure_startup, startup_table  # noqa: E402

BIN = Path(sys.executable).parent
GITLAB_CI_LOCAL = ROOT / "benchmarks" / "gitlab-ci-local" / "node_modules" / ".bin"
CONTENDERS = ("bare", "local", "server", "gitlab-ci-local")
STARTUP_PIPELINE = "one3"


class ContenderFailed(Exception):
    pass


@dataclass
class Bench:
    """The scratch repository, the homes and the cluster the contenders run against."""

    tmp: Path
    cluster: Cluster | None = None
    base_xxci: Path | None = None
    logs: Path = field(init=False)
    repo: Path = field(init=False)

    def __post_init__(self) -> None:
        self.logs = self.tmp / "logs"
        self.repo = self.tmp / "repo"
        self.logs.mkdir()
        pipelines = self.repo / ".pipelines"
        pipelines.mkdir(parents=True)
        (self.repo / ".gitignore").write_text(".gitlab-ci-local/\n")
        for p in PIPELINES.values():
            (pipelines / f"{p.name}.yml").write_text(p.xxci_yaml())
            (self.repo / f".gitlab-ci-{p.name}.yml").write_text(p.gitlab_yaml())
            (self.tmp / f"{p.name}.plan.json").write_text(p.bare_plan())
        git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
        subprocess.run(["git", "init", "-q", "-b", "main", str(self.repo)], check=True)
        subprocess.run([*git, "-C", str(self.repo), "add", "-A"], check=True)
        subprocess.run([*git, "-C", str(self.repo), "commit", "-qm", "bench"], check=True)

    def command(self, contender: str, pipeline: Pipeline) -> tuple[list[str], dict[str, str]]:
        env = contender_env()
        xxci = [str(BIN / "xxci"), "run", "--pipeline", pipeline.name, "--repo", str(self.repo)]
        if contender == "bare":
            plan = self.tmp / f"{pipeline.name}.plan.json"
            return [sys.executable, str(ROOT / "benchmarks" / "bare_docker.py"), str(plan)], env
        if contender == "local":
            env["XXCI_HOME"] = str(self.tmp / "home")
            return [*xxci, "--local"], env
        if contender == "local-base":
            assert self.base_xxci is not None
            env["XXCI_HOME"] = str(self.tmp / "home-base")
            return [str(self.base_xxci), *xxci[1:], "--local"], env
        if contender == "server":
            assert self.cluster is not None
            return [*xxci, "--server", self.cluster.address, "--token", self.cluster.token], env
        file = f".gitlab-ci-{pipeline.name}.yml"
        return [
            str(GITLAB_CI_LOCAL / "gitlab-ci-local"),
            "--file",
            file,
            "--pull-policy",
            "if-not-present",
        ], env

    def run(self, contender: str, pipeline: Pipeline) -> float:
        """Seconds from spawn to exit; ContenderFailed unless it exits 0."""
        argv, env = self.command(contender, pipeline)
        log = self.logs / f"{contender}-{pipeline.name}.log"
        with log.open("wb") as out:
            started = time.perf_counter()
            code = subprocess.call(argv, cwd=self.repo, env=env, stdout=out, stderr=out)
            elapsed = time.perf_counter() - started
        if code != 0:
            tail = log.read_text(errors="replace")[-2000:]
            raise ContenderFailed(f"{contender} on {pipeline.name} exited {code}:\n{tail}")
        return elapsed


Times = dict[str, dict[str, list[float]]]  # pipeline -> contender -> seconds per round


def measure(
    bench: Bench,
    pipelines: list[Pipeline],
    contenders: list[str],
    rounds: int,
    warmup: int,
    console: Console,
) -> Times:
    times: Times = {p.name: {c: [] for c in contenders} for p in pipelines}
    for r in range(-warmup, rounds):
        shift = r % len(contenders)
        order = contenders[shift:] + contenders[:shift]
        label = "warm-up" if r < 0 else f"round {r + 1}/{rounds}"
        for p in pipelines:
            cells = []
            for contender in order:
                seconds = bench.run(contender, p)
                if r >= 0:
                    times[p.name][contender].append(seconds)
                cells.append(f"{contender} {seconds:.2f}s")
            console.print(f"[dim]{label} {p.name}: {', '.join(cells)}[/dim]")
    return times


def ratio_cell(values: list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def results_table(times: Times, contenders: list[str]) -> Table:
    table = Table(title="Wall time per pipeline (seconds; ratios to bare)")
    for column in ("pipeline", "contender", "median", "min-max", "/bare", "rounds /bare"):
        table.add_column(column, justify="left" if column in ("pipeline", "contender") else "right")
    table.add_column("ms/job over bare", justify="right")
    for name, by_contender in times.items():
        pipeline = PIPELINES[name]
        bare = by_contender.get("bare")
        for contender in contenders:
            values = by_contender[contender]
            median = statistics.median(values)
            cells = [f"{median:.2f}", f"{min(values):.2f}-{max(values):.2f}"]
            if bare and contender != "bare":
                per_round = [v / b for v, b in zip(values, bare, strict=True)]
                over = (median - statistics.median(bare)) / len(pipeline.jobs) * 1000
                cells += [f"{median / statistics.median(bare):.2f}", ratio_cell(per_round)]
                cells.append(f"{over:+.0f}")
            else:
                cells += ["", "", ""]
            table.add_row(pipeline.title, contender, *cells)
        table.add_section()
    return table


@dataclass(frozen=True)
class Target:
    what: str
    measured: float
    limit: float
    unit: str = ""

    @property
    def met(self) -> bool:
        return self.measured <= self.limit


def targets(times: Times, startup: dict[int, list[Sample]]) -> list[Target]:
    def med(pipeline: str, contender: str) -> float | None:
        values = times.get(pipeline, {}).get(contender)
        return statistics.median(values) if values else None

    found: list[Target] = []
    for contender in ("local", "server"):
        for name in ("stages4x5", "stage1x20", "chain10"):
            mine, bare = med(name, contender), med(name, "bare")
            if mine is not None and bare is not None:
                found.append(
                    Target(f"{contender} / bare, {PIPELINES[name].title}", mine / bare, 1.10)
                )
    local, gcl = med("stages4x5", "local"), med("stages4x5", "gitlab-ci-local")
    if local is not None and gcl is not None:
        found.append(Target("local / gitlab-ci-local, 4 stages x 5 jobs", local / gcl, 0.40))
    local, bare = med(STARTUP_PIPELINE, "local"), med(STARTUP_PIPELINE, "bare")
    if local is not None and bare is not None:
        found.append(Target("local - bare, 1 job (s)", local - bare, 0.30))
    if len(startup) > 1:
        what = f"start-up with {max(startup):,} past runs - with {min(startup):,} (s)"
        found.append(Target(what, growth(startup), 0.05))
    return found


def targets_table(found: list[Target]) -> Table:
    table = Table(title="Targets")
    table.add_column("target")
    table.add_column("measured", justify="right")
    table.add_column("limit", justify="right")
    table.add_column("met")
    for t in found:
        table.add_row(t.what, f"{t.measured:.2f}", f"{t.limit:.2f}", "yes" if t.met else "NO")
    return table


def machine() -> str:
    cpu = "?"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    docker = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True
    ).stdout.strip()
    return (
        f"{os.cpu_count()} x {cpu}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; Docker {docker or '?'}"
    )


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--pipelines", default=",".join(PIPELINES), help="comma-separated")
    parser.add_argument("--contenders", default=",".join(CONTENDERS), help="comma-separated")
    parser.add_argument("--startup-runs", default="0,1000,10000",
                        help="past runs to measure start-up with ('' to skip)")  # fmt: skip
    parser.add_argument("--startup-repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the raw times here")
    parser.add_argument(
        "--base-xxci",
        type=Path,
        help="another install's xxci: adds the contender local-base, to measure a change",
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    for name in args.pipelines.split(","):
        if name not in PIPELINES:
            parser.error(f"unknown pipeline {name!r} (known: {', '.join(PIPELINES)})")
    for name in args.contenders.split(","):
        if name not in CONTENDERS:
            parser.error(f"unknown contender {name!r} (known: {', '.join(CONTENDERS)})")
    if (
        "gitlab-ci-local" in args.contenders.split(",")
        and not (GITLAB_CI_LOCAL / "gitlab-ci-local").exists()
    ):
        parser.error("gitlab-ci-local is not installed: run `make bench-tools` first")
    return args


def main() -> None:
    args = parse_args()
    pipelines = [PIPELINES[n] for n in args.pipelines.split(",")]
    contenders = args.contenders.split(",")
    if args.base_xxci:
        contenders.append("local-base")
    counts = [int(c) for c in args.startup_runs.split(",") if c.strip()]
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
    console.print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()}")
    console.print(f"load average at start: {load()}")
    console.print("contenders run as processes, with Python's bytecode cache on")
    with tempfile.TemporaryDirectory(prefix="xxci-compare-") as tmp:
        bench = Bench(Path(tmp), base_xxci=args.base_xxci)
        capacity = max(1, -(-max(p.width for p in pipelines) // 2))
        try:
            if "server" in contenders:
                bench.cluster = Cluster.start(BIN / "xxci", bench.tmp / "cluster", capacity)
            times = measure(bench, pipelines, contenders, args.rounds, args.warmup, console)
        except ContenderFailed as err:
            sys.exit(str(err))
        finally:
            if bench.cluster is not None:
                bench.cluster.stop()
        startup = {}
        if counts:
            startup = measure_startup(
                BIN / "xxci",
                bench.repo,
                STARTUP_PIPELINE,
                bench.tmp,
                counts,
                args.startup_repeat,
                lambda line: console.print(f"[dim]{line}[/dim]"),
            )
        console.print(f"load average at end: {load()}")
        console.print(results_table(times, contenders))
        if startup:
            console.print(startup_table(startup))
        found = targets(times, startup)
        if found:
            console.print(targets_table(found))
        if args.json:
            raw = {
                "times": times,
                "startup": {n: [vars(s) for s in samples] for n, samples in startup.items()},
                "machine": machine(),
                "load": load(),
            }
            args.json.write_text(json.dumps(raw, indent=2))
        shutil.rmtree(bench.logs, ignore_errors=True)


if __name__ == "__main__":
    main()
