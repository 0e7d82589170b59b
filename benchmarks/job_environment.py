"""What a warm cache saves, and what one service costs, on the real engine.

    .venv/bin/python benchmarks/job_environment.py [--repeat 5] [--megabytes 50]

Every run is a real ``xxci run --local`` (orchestrator and worker in the process, jobs
in Docker with the local busybox image) in a scratch ``$XXCI_HOME``. A job's time is
from queued to finished, as its report says: it holds the dispatch, the service
start, the cache restore and save, and the script.

* cache: the job "downloads" ``--megabytes`` of generated data from an ``httpd``
  service (the same service in both cases) unless ``dl/`` came from the cache. Cold:
  the cache is removed before each run. Warm: the cache (and the worker's copy) is
  there. Saved = cold - warm.
* service: a job that runs ``true``, without a service and with one (busybox
  ``httpd``). Overhead = with - without.

Medians over ``--repeat`` runs, in interleaved rounds so machine load hits both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

IMAGE = "xxci-test/busybox:latest"
XXCI = [sys.executable, "-m", "xxci.cli"]

PIPELINES = {
    "cache": """
pipeline: {{name: cache}}
stages: [build]
default: {{image: {image}}}
jobs:
  - name: fetch
    stage: build
    services:
      - name: {image}
        alias: mirror
        command:
          - sh
          - -c
          - mkdir -p /www && head -c {size} /dev/urandom > /www/blob
            && exec httpd -f -p 80 -h /www
    cache: {{key: dl, paths: [dl/]}}
    script:
      - mkdir -p dl
      - test -f dl/blob || printf 'GET /blob HTTP/1.0\\r\\n\\r\\n' | nc mirror 80 > dl/raw
      - test -f dl/blob || {{ tail -c {size} dl/raw > dl/blob && rm dl/raw; }}
      - ls -l dl/blob
""",
    "plain": """
pipeline: {{name: plain}}
stages: [build]
default: {{image: {image}}}
jobs:
  - {{name: job, stage: build, script: ["true"]}}
""",
    "service": """
pipeline: {{name: service}}
stages: [build]
default: {{image: {image}}}
jobs:
  - name: job
    stage: build
    services:
      - name: {image}
        alias: web
        command: [httpd, -f, -p, "80", -h, /tmp]
    script: ["true"]
""",
}


def sh(*args: str, cwd: Path, env: dict[str, str]) -> str:
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{out.stdout}{out.stderr}")
    return out.stdout


def job_seconds(home: Path, pipeline: str, number: int) -> float:
    doc = json.loads((home / "reports" / pipeline / f"{number}.json").read_text())
    job = doc["stages"][0]["jobs"][0]
    start = datetime.fromisoformat(job["queued_at"])
    return (datetime.fromisoformat(job["finished_at"]) - start).total_seconds()


class Bench:
    def __init__(self, root: Path, size: int) -> None:
        self.repo = root / "repo"
        self.home = root / "home"
        self.env = {**os.environ, "XXCI_HOME": str(self.home), "TERM": "dumb"}
        self.runs: dict[str, int] = {}
        (self.repo / ".pipelines").mkdir(parents=True)
        for name, text in PIPELINES.items():
            body = text.format(image=IMAGE, size=size)
            (self.repo / ".pipelines" / f"{name}.yml").write_text(body)
        git = ["git", "-c", "user.name=b", "-c", "user.email=b@example.com"]
        sh(*git, "init", "-q", "-b", "main", cwd=self.repo, env=self.env)
        sh(*git, "add", "-A", cwd=self.repo, env=self.env)
        sh(*git, "commit", "-qm", "bench", cwd=self.repo, env=self.env)

    def run(self, pipeline: str) -> float:
        sh(*XXCI, "run", "--local", "--pipeline", pipeline, cwd=self.repo, env=self.env)
        self.runs[pipeline] = self.runs.get(pipeline, 0) + 1
        return job_seconds(self.home, pipeline, self.runs[pipeline])

    def forget_cache(self) -> None:
        sh(*XXCI, "cache", "rm", "--local", "--all", cwd=self.repo, env=self.env)
        for copy in (self.home / "worker-cache").glob("*"):
            copy.unlink()


def summary(name: str, values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{name:<22} median {statistics.median(values):6.2f} s  (min {low:.2f}, max {high:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--megabytes", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xxci-bench-env-") as tmp:
        bench = Bench(Path(tmp), args.megabytes * 1024 * 1024)
        bench.run("plain")  # warm-up: image layers, the local database
        times: dict[str, list[float]] = {k: [] for k in ("cold", "warm", "plain", "service")}
        started = time.monotonic()
        for _ in range(args.repeat):
            bench.forget_cache()
            times["cold"].append(bench.run("cache"))
            times["warm"].append(bench.run("cache"))
            times["plain"].append(bench.run("plain"))
            times["service"].append(bench.run("service"))
        took = time.monotonic() - started
        print(f"job times, queued to finished, {args.repeat} rounds ({took:.0f} s)")
        print(summary(f"cache cold ({args.megabytes} MB)", times["cold"]))
        print(summary("cache warm", times["warm"]))
        saved = statistics.median(times["cold"]) - statistics.median(times["warm"])
        print(f"{'warm cache saves':<22} {saved:6.2f} s")
        print(summary("no service", times["plain"]))
        print(summary("one service", times["service"]))
        overhead = statistics.median(times["service"]) - statistics.median(times["plain"])
        print(f"{'service overhead':<22} {overhead:6.2f} s")


if __name__ == "__main__":
    main()
