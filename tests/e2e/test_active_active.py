"""Two orchestrators on one PostgreSQL store, serving at once; one is SIGKILLed mid-run.

Real processes throughout: two `xxci server --store postgresql://...`, two workers
given both addresses (in opposite orders, so each orchestrator has one), ten
`xxci run` clients submitting alternately to both, jobs in Docker.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import TOKEN, make_repo, run_id_of
from tests.e2e.shared_cluster import SharedCluster, check_jobs_ran_once
from xxci.cli.client.remote import GrpcClient
from xxci.common.events import JobStarted, RecordedEvent

IMAGE = "xxci-test/busybox:latest"

PIPELINE = f"""
pipeline:
  name: pair
stages: [first, second]
default:
  image: {IMAGE}
jobs:
  - name: one
    stage: first
    script: ["sleep 2", "echo one of run $CI_RUN_NUMBER"]
  - name: two
    stage: second
    script: ["sleep 1", "echo two of run $CI_RUN_NUMBER"]
"""


@pytest.fixture
def shared(tmp_path: Path, docker_image: str, postgres_url: str) -> Iterator[SharedCluster]:
    c = SharedCluster(tmp=tmp_path, url=postgres_url)
    try:
        c.start_servers(2)
        c.start_worker("wa", first=0)
        c.start_worker("wb", first=1)
        c.wait_workers(0, {"wa"})
        c.wait_workers(1, {"wb"})
        yield c
    finally:
        c.stop()


def events_of(c: SharedCluster, server: int, run_id: str) -> list[RecordedEvent]:
    async def fetch() -> list[RecordedEvent]:
        async with GrpcClient(c.address(server), TOKEN) as client:
            return [r async for r in client.events(run_id)]

    return asyncio.run(fetch())


def started_jobs(c: SharedCluster, server: int) -> int:
    async def count() -> int:
        async with GrpcClient(c.address(server), TOKEN) as client:
            return len([r async for r in client.events() if isinstance(r.event, JobStarted)])

    return asyncio.run(count())


@pytest.mark.docker
@pytest.mark.timeout(420)
def test_two_orchestrators_one_killed_mid_run_every_run_finishes(
    shared: SharedCluster, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", {"pair.yml": PIPELINE})
    clients: list[subprocess.Popen[str]] = []
    for i in range(10):  # alternately to server 0 and server 1, each knowing both
        clients.append(
            shared.popen("run", "--pipeline", "pair", cwd=repo, server=shared.addresses(i % 2))
        )
        time.sleep(0.2)

    deadline = time.monotonic() + 120
    while started_jobs(shared, 1) < 3:  # mid-run: jobs are running on both
        assert time.monotonic() < deadline, shared.logs()
        time.sleep(0.2)
    shared.kill_server(0)
    killed_at = time.monotonic()

    failover = shared.wait_workers(1, {"wa", "wb"}, timeout=30)
    assert failover < 10, f"worker wa took {failover:.1f}s to fail over"

    outputs = []
    for client in clients:
        out, err = client.communicate(timeout=240)
        outputs.append((client.returncode, out, err))
    for code, out, err in outputs:
        assert code == 0, f"{out}\n{err}\n{shared.logs()}"
    assert time.monotonic() - killed_at < 240

    run_ids = [run_id_of(out) for _, out, _ in outputs]
    assert len(set(run_ids)) == 10
    numbers = set()
    for run_id in run_ids:
        events = events_of(shared, 1, run_id)
        numbers.add(next(r.event.number for r in events if r.event.type == "RunCreated"))  # type: ignore[attr-defined]
        check_jobs_ran_once(events, ("one", "two"))
    assert numbers == set(range(1, 11))

    verify = shared.xxci("verify", server=shared.addresses(0))  # server 0 is down: fails over
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "all derived data agrees with the log" in verify.stdout, verify.stdout
    assert "hash chain: intact over" in verify.stdout, verify.stdout
