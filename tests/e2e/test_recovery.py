"""Recovery end to end, real processes and Docker: the times of a job that ended while
the server was down, following a run across a server restart, and a worker cut off
long enough to lose its job killing that job's container as soon as it is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from pathlib import Path

import pytest

from tests.chaos.processes import TOKEN, Process, free_port, wait_port
from tests.e2e.cluster import Cluster, make_repo, run_id_of
from tests.e2e.test_engine import jobs_of, wait_for_job
from tests.integration.orchestrator.harness import Link
from xxci.cli.client.remote import GrpcClient
from xxci.cli.display.follow import BACK, LOST
from xxci.common.api import Submission
from xxci.common.events import Event, JobFinished, JobStarted, MessageRejected, RecordedEvent
from xxci.worker.docker.container_config import LABEL_ATTEMPT, LABEL_RUN
from xxci.worker.docker.engine import DockerEngine

IMAGE = "xxci-test/busybox:latest"

THREE_SECONDS = f"""
pipeline: {{name: outage}}
stages: [first, second]
default: {{image: {IMAGE}}}
jobs:
  - {{name: first, stage: first, script: ["sleep 3"]}}
  - {{name: second, stage: second, script: ["echo second"]}}
"""


async def containers(run_id: str, attempt: int | None = None) -> list[str]:
    labels = {LABEL_RUN: run_id}
    if attempt is not None:
        labels[LABEL_ATTEMPT] = str(attempt)
    async with DockerEngine() as engine:
        return await engine.container_ids(labels)


def wait_gone(run_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while asyncio.run(containers(run_id)):
        if time.monotonic() > deadline:
            raise AssertionError(f"the containers of run {run_id} are still there")
        time.sleep(0.1)


def test_a_job_that_ended_while_the_server_was_down_keeps_its_duration(
    cluster: Cluster, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", {"o.yml": THREE_SECONDS})
    proc = cluster.popen("run", "--pipeline", "outage", cwd=repo)
    assert proc.stdout is not None
    run_id = run_id_of(proc.stdout.readline())
    wait_for_job(cluster, run_id, "first", "RUNNING")
    cluster.kill_server()
    wait_gone(run_id)  # the job ended; its result waits in its worker
    time.sleep(4)  # the outage: the result arrives this much later than the job ended
    cluster.start_server()
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, out + err + cluster.logs()

    first = jobs_of(cluster.report(run_id))["first"]
    took = first["duration"]
    assert 3.0 <= took < 4.0, f"a 3 s job recorded as {took} s"
    records = cluster.events(run_id)

    started = next(r.at for r in records if isinstance(r.event, JobStarted))
    ended = next(
        r.at for r in records if isinstance(r.event, JobFinished) and r.event.job == "first"
    )
    apart = (ended - started).total_seconds()
    assert apart > 7, f"the result came {apart} s after the start, not after an outage"


LONG = f"""
pipeline: {{name: follow}}
stages: [test]
default: {{image: {IMAGE}}}
jobs:
  - {{name: slow, stage: test, script: ["sleep 4", "echo slow done"]}}
  - {{name: quick, stage: test, script: ["sleep 1"]}}
"""


def test_following_a_run_across_a_server_restart_says_so_once(
    cluster: Cluster, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", {"f.yml": LONG})
    proc = cluster.popen("run", "--pipeline", "follow", cwd=repo)
    assert proc.stdout is not None
    run_id = run_id_of(proc.stdout.readline())
    wait_for_job(cluster, run_id, "slow", "RUNNING")
    cluster.kill_server()
    time.sleep(1.5)  # the outage
    cluster.start_server()
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, out + err + cluster.logs()

    lines = out.splitlines()
    assert (lines.count(LOST), lines.count(BACK)) == (1, 1), out
    assert lines.index(LOST) < lines.index(BACK)
    progress = [line for line in lines if line.endswith(("RUNNING", "QUEUED")) or " in " in line]
    assert len(progress) == len(set(progress)), f"a line came twice:\n{out}"
    assert "cannot reach" not in out + err


TRAPPED = f"""
pipeline: {{name: fenced}}
stages: [test]
default: {{image: {IMAGE}}}
jobs:
  - name: stubborn
    stage: test
    script:
      - trap '' TERM; if [ "$CI_JOB_ATTEMPT" = 1 ]; then sleep 300; fi
      - echo "attempt $CI_JOB_ATTEMPT done"
"""


@pytest.mark.timeout(120)
async def test_a_returning_worker_kills_the_container_of_its_lost_job_at_once(
    tmp_path: Path, docker_image: str
) -> None:
    port = free_port()
    address = f"127.0.0.1:{port}"
    # A cancel would give the job a minute between SIGTERM and SIGKILL (and it ignores
    # SIGTERM): only a kill without grace ends it within the test.
    server = Process(
        "server",
        [
            *("server", "--listen", address, "--data-dir", str(tmp_path / "data")),
            *("--token", TOKEN, "--disconnect-grace", "1", "--cancel-grace", "60"),
        ],
        tmp_path / "server.log",
    )
    link = Link(port)
    await link.start()
    cut_off = Process(
        "w1",
        [
            *("worker", "--server", f"127.0.0.1:{link.port}", "--token", TOKEN, "--name", "w1"),
            *("--work-dir", str(tmp_path / "w1")),
        ],
        tmp_path / "w1.log",
        link=link,
    )
    other = Process(
        "w2",
        [
            *("worker", "--server", address, "--token", TOKEN, "--name", "w2"),
            *("--work-dir", str(tmp_path / "w2")),
        ],
        tmp_path / "w2.log",
    )
    await server.start()
    await wait_port(port)
    await cut_off.start()
    try:
        async with GrpcClient(address, TOKEN) as client:
            submitted = await client.submit(Submission(file_name="f.yml", yaml_text=TRAPPED))
            run_id = submitted.run_id
            events = client.watch(run_id)
            await until(events, lambda e: isinstance(e, JobStarted) and e.attempt == 1)
            await other.start()
            link.block()  # w1 cannot reach the server, nor the server w1: it runs on
            await until(events, lambda e: isinstance(e, JobStarted) and e.attempt == 2)
            assert await containers(run_id, attempt=1), "the lost attempt's container is gone"

            back = time.monotonic()
            link.unblock()
            while await containers(run_id, attempt=1):
                assert time.monotonic() - back < 10, "the lost attempt's container was not killed"
                await asyncio.sleep(0.1)
            killed_in = time.monotonic() - back
            await until(events, lambda e: e.type == "RunFinished")
            await events.aclose()
            report = await client.run_report(run_id)
            rejected = [
                r.event
                async for r in client.events()
                if isinstance(r.event, MessageRejected) and r.event.run_id == run_id
            ]
    finally:
        for proc in (cut_off, other, server):
            await proc.stop()
        await link.close()

    assert killed_in < 10
    [job] = [j for s in report["stages"] for j in s["jobs"]]
    assert (job["status"], job["attempt"], job["worker"]) == ("SUCCESS", 2, "w2")
    assert [a["failure_reason"] for a in job["attempts"]] == ["worker_lost", None]
    assert ("job_finished", 1) in {(m.message, m.attempt) for m in rejected}


async def until(
    events: AsyncGenerator[RecordedEvent, None],
    wanted: Callable[[Event], bool],
    timeout: float = 60,  # noqa: ASYNC109
) -> None:
    """Read the run's events until one is ``wanted``."""
    async with asyncio.timeout(timeout):
        while not wanted((await anext(events)).event):
            pass
