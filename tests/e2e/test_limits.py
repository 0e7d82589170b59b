"""Hostile input against real processes: a pipeline file that takes the reader's whole
CPU budget while other clients are served, and jobs past the output and artifact
limits, with a real `xxci server`, a real `xxci worker` and jobs in Docker."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.cluster import TOKEN, Cluster, free_port, make_repo
from xxci.cli.client.remote import GrpcClient

pytestmark = pytest.mark.timeout(120)

HOSTILE = (
    "pipeline: {name: hostile}\nstages: [build]\njobs:\n"
    "  - name: a\n    stage: build\n    image: busybox\n    script: [echo]\n    tags: ["
    + "x, " * 690_000
    + "x]\n"
)
"""Two megabytes of one flow list: more than the server's CPU budget to read."""

SUBMITTER = """
import asyncio, sys
from xxci.cli.client.remote import GrpcClient
from xxci.common.api import Submission
from xxci.common.errors import XxciError

async def main() -> None:
    text = open(sys.argv[3]).read()
    async with GrpcClient(sys.argv[1], sys.argv[2]) as client:
        try:
            await client.submit(Submission("hostile.yml", text))
        except XxciError as error:
            print(error)

asyncio.run(main())
"""


async def _status_latencies(cluster: Cluster, submitter: subprocess.Popen[str]) -> list[float]:
    latencies: list[float] = []
    async with GrpcClient(cluster.address, TOKEN) as client:
        while submitter.poll() is None:
            start = time.perf_counter()
            await client.status()
            latencies.append(time.perf_counter() - start)
            await asyncio.sleep(0.02)
    return latencies


def test_status_stays_responsive_while_a_hostile_file_is_read(tmp_path: Path) -> None:
    port = free_port()
    cluster = Cluster(
        tmp=tmp_path,
        port=port,
        data_dir=tmp_path / "data",
        server_args=("--max-pipeline-cpu", "3"),
    )
    cluster.start_server()
    hostile = tmp_path / "hostile.yml"
    hostile.write_text(HOSTILE)
    assert 2_000_000 < len(HOSTILE) <= 2 * 1024 * 1024
    try:
        submitter = subprocess.Popen(
            [sys.executable, "-c", SUBMITTER, cluster.address, TOKEN, str(hostile)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cluster.env,
        )
        latencies = asyncio.run(_status_latencies(cluster, submitter))
        out, err = submitter.communicate(timeout=60)
    finally:
        cluster.stop()
    assert (out, err) == (
        "hostile.yml:1:1: reading the file took more than 3 s of CPU time, the limit; "
        "it is too large or too intricate\n",
        "",
    )
    # The server answered all along: reading happens in another process.
    assert len(latencies) > 20
    assert max(latencies) < 1.0, sorted(latencies)[-5:]
    assert "Traceback" not in (tmp_path / "server.log").read_text()


LIMITED = """
pipeline: {name: limited}
stages: [build]
default: {image: xxci-test/busybox:latest}
jobs:
  - name: chatty
    stage: build
    script:
      - "head -c 300000 /dev/zero | tr '\\\\0' 'x'; echo"
      - "mkdir out && for n in 1 2 3 4; do head -c 40000 /dev/zero > out/f$n; done"
      - echo still running
    artifacts: {paths: [out/]}
"""


def test_output_and_artifacts_past_the_servers_limits_are_cut_and_reported(
    tmp_path: Path, docker_image: str
) -> None:
    cluster = Cluster(
        tmp=tmp_path,
        port=free_port(),
        data_dir=tmp_path / "data",
        server_args=("--max-output", "64KiB", "--max-artifacts", "100KB"),
    )
    repo = make_repo(tmp_path / "repo", {"limited.yml": LIMITED})
    cluster.start_server()
    try:
        cluster.start_worker("w1")
        cluster.wait_workers(1)
        run = cluster.xxci("run", "--pipeline", "limited", cwd=repo)
        assert run.returncode == 0, run.stdout + run.stderr
        logs = cluster.xxci("logs", "limited#1", "chatty", cwd=repo)
        report = cluster.xxci(
            "report", "--pipeline", "limited", "--run", "1", "--stage", "build", "--job", "chatty"
        )
        status = cluster.xxci("status")
    finally:
        cluster.stop()
    assert logs.returncode == 0
    assert len(logs.stdout.encode()) < 64 * 1024 + 4096
    assert (
        "output cut at the limit of 64 KiB: the job goes on, the rest of its output is not "
        "kept\n" in logs.stdout
    )
    assert "\nstill running\n" not in logs.stdout  # the job went on, its output was not kept
    assert "  log" in report.stdout and "cut at the output limit" in report.stdout
    assert "cut at the artifact limit" in report.stdout
    assert status.stdout.rstrip().endswith(
        "limits: pipeline files 2 MiB, 1000 jobs a run, 50 needs a job; output 64 KiB a job, "
        "artifacts 100 KiB a job, uploads 2 GiB a blob"
    )


def test_run_local_leaves_no_temporary_file_or_folder(tmp_path: Path, docker_image: str) -> None:
    repo = make_repo(
        tmp_path / "repo",
        {
            "small.yml": (
                "pipeline: {name: small}\nstages: [build]\n"
                "default: {image: xxci-test/busybox:latest}\njobs:\n"
                "  - {name: a, stage: build, script: ['echo a > a.txt'], "
                "artifacts: {paths: [a.txt]}}\n"
            )
        },
    )
    temp = tmp_path / "tmp"
    temp.mkdir()
    cluster = Cluster(tmp=tmp_path, port=0, data_dir=tmp_path / "unused")
    run = subprocess.run(
        [sys.executable, "-m", "xxci.cli", "run", "--local"],
        cwd=repo,
        env={**cluster.env, "TMPDIR": str(temp)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert list(temp.iterdir()) == []
