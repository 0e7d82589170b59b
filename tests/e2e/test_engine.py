"""The engine end to end: server and two workers as processes, jobs in Docker."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.e2e.cluster import Cluster, make_repo, run_id_of
from xxci.common.events import JobFinished
from xxci.worker.docker.container_config import LABEL_HOST, LABEL_PID
from xxci.worker.docker.engine import DockerEngine
from xxci.worker.docker.executor import DockerExecutor

IMAGE = "xxci-test/busybox:latest"


def jobs_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {j["name"]: j for s in report["stages"] for j in s["jobs"]}


def stages_of(report: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["status"] for s in report["stages"]}


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def run(cluster: Cluster, repo: Path, *args: str, timeout: float = 120) -> tuple[int, str, str]:
    out = cluster.xxci("run", *args, cwd=repo, timeout=timeout)
    return out.returncode, out.stdout, out.stderr


SUCCESS = f"""
pipeline:
  name: app
stages: [build, test]
default:
  image: {IMAGE}
  variables: {{GREETING: hello}}
jobs:
  - name: compile
    stage: build
    script:
      - mkdir -p build
      - cat src/input.txt > build/app.txt
      - echo "$GREETING from $CI_JOB_NAME of $CI_PIPELINE_NAME run $CI_RUN_NUMBER" >> build/app.txt
    artifacts:
      paths: [build/]
  - name: unit
    stage: test
    script:
      - grep -q 'source line' build/app.txt
      - grep -q "hello from compile of app run $CI_RUN_NUMBER" build/app.txt
  - name: lint
    stage: test
    script: ["test -f build/app.txt", "echo lint ok"]
"""


def test_success_across_stages_with_artifacts(cluster: Cluster, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"app.yml": SUCCESS}, {"src/input.txt": "source line\n"})
    code, out, err = run(cluster, repo, "--pipeline", "app")
    assert code == 0, out + err + cluster.logs()
    report = cluster.report(run_id_of(out))
    assert report["status"] == "SUCCESS"
    assert report["number"] == 1
    assert stages_of(report) == {"build": "SUCCESS", "test": "SUCCESS"}
    jobs = jobs_of(report)
    assert {n: j["status"] for n, j in jobs.items()} == {
        "compile": "SUCCESS",
        "unit": "SUCCESS",
        "lint": "SUCCESS",
    }
    assert [s["exit_code"] for s in jobs["compile"]["steps"]] == [0, 0, 0]
    assert "pipeline app #1 SUCCESS" in out
    # Run numbers count per pipeline.
    code, out, err = run(cluster, repo, "--pipeline", "app")
    assert code == 0, out + err
    assert cluster.report(run_id_of(out))["number"] == 2


PARALLEL = f"""
pipeline: {{name: par}}
stages: [test]
default: {{image: {IMAGE}}}
jobs:
  - {{name: a, stage: test, script: ["sleep 2"]}}
  - {{name: b, stage: test, script: ["sleep 2"]}}
  - {{name: c, stage: test, script: ["sleep 2"]}}
  - {{name: d, stage: test, needs: [a], script: ["true"]}}
"""


def test_parallel_jobs_overlap_and_needs_order(cluster: Cluster, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"par.yml": PARALLEL})
    code, out, err = run(cluster, repo, "--pipeline", "par")
    assert code == 0, out + err + cluster.logs()
    jobs = jobs_of(cluster.report(run_id_of(out)))
    a, b, c, d = (jobs[n] for n in "abcd")
    # a, b and c ran at the same time...
    latest_start = max(ts(j["started_at"]) for j in (a, b, c))
    earliest_end = min(ts(j["finished_at"]) for j in (a, b, c))
    assert latest_start < earliest_end
    # ...spread over both workers (capacity 2 each, three jobs)...
    assert len({j["worker"] for j in (a, b, c)}) == 2
    # ...and d waited for its need.
    assert ts(d["started_at"]) >= ts(a["finished_at"])


FAILING = f"""
pipeline: {{name: fails}}
stages: [build, test, deploy]
default: {{image: {IMAGE}}}
jobs:
  - name: broken
    stage: build
    script: ["echo about to fail", "exit 3", "echo never"]
  - name: slow-sibling
    stage: build
    script: ["sleep 1", "echo sibling done"]
  - name: allowed
    stage: build
    allow_failure: {{exit_codes: [4]}}
    script: ["exit 4"]
  - name: dependent
    stage: build
    needs: [broken]
    script: ["echo never runs"]
  - name: tests
    stage: test
    script: ["true"]
  - name: ship
    stage: deploy
    script: ["true"]
"""


def test_failure_stops_later_stages(cluster: Cluster, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"f.yml": FAILING})
    code, out, err = run(cluster, repo, "--pipeline", "fails")
    assert code == 1, out + err
    report = cluster.report(run_id_of(out))
    assert report["status"] == "FAILED"
    assert stages_of(report) == {"build": "FAILED", "test": "SKIPPED", "deploy": "SKIPPED"}
    jobs = jobs_of(report)
    assert jobs["broken"]["status"] == "FAILED"
    assert jobs["broken"]["exit_code"] == 3
    assert jobs["broken"]["failure_reason"] == "script_failure"
    assert [s["exit_code"] for s in jobs["broken"]["steps"]] == [0, 3, None]
    assert jobs["slow-sibling"]["status"] == "SUCCESS"  # running siblings finish
    assert jobs["allowed"]["status"] == "FAILED"
    assert jobs["allowed"]["allowed_failure"] is True
    assert jobs["dependent"]["status"] == "FAILED"
    assert jobs["dependent"]["failure_reason"] == "dependency_failed"
    assert jobs["dependent"]["started_at"] is None
    assert jobs["tests"]["status"] == "SKIPPED"
    assert jobs["ship"]["status"] == "SKIPPED"
    assert "pipeline fails #1 FAILED" in out


ALLOWED = f"""
pipeline: {{name: allowed}}
stages: [test, deploy]
default: {{image: {IMAGE}}}
jobs:
  - {{name: flaky, stage: test, allow_failure: true, script: ["exit 1"]}}
  - {{name: ship, stage: deploy, script: ["true"]}}
"""


def test_allow_failure_lets_the_run_succeed(cluster: Cluster, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.yml": ALLOWED})
    code, out, err = run(cluster, repo, "--pipeline", "allowed")
    assert code == 0, out + err
    report = cluster.report(run_id_of(out))
    jobs = jobs_of(report)
    assert report["status"] == "SUCCESS"
    assert (jobs["flaky"]["status"], jobs["flaky"]["allowed_failure"]) == ("FAILED", True)
    assert jobs["ship"]["status"] == "SUCCESS"


TIMEOUT_AND_PULL = f"""
pipeline: {{name: limits}}
stages: [test]
default: {{image: {IMAGE}}}
jobs:
  - {{name: slow, stage: test, timeout: 2s, script: ["sleep 60"]}}
  - {{name: noimage, stage: test, image: "xxci-test/does-not-exist:1", script: ["true"]}}
"""


def test_timeout_and_image_pull_failure(cluster: Cluster, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"l.yml": TIMEOUT_AND_PULL})
    started = time.monotonic()
    code, out, err = run(cluster, repo, "--pipeline", "limits")
    assert code == 1, out + err
    assert time.monotonic() - started < 40
    jobs = jobs_of(cluster.report(run_id_of(out)))
    assert (jobs["slow"]["status"], jobs["slow"]["failure_reason"]) == ("FAILED", "timeout")
    assert jobs["noimage"]["status"] == "FAILED"
    assert jobs["noimage"]["failure_reason"] == "image_pull_failure"
    assert "xxci-test/does-not-exist:1" in jobs["noimage"]["message"]


CANCEL = f"""
pipeline: {{name: long}}
stages: [test, deploy]
default: {{image: {IMAGE}}}
jobs:
  - {{name: sleeper, stage: test, script: ["echo started", "sleep 120"]}}
  - {{name: ship, stage: deploy, script: ["true"]}}
"""


def wait_for_job(cluster: Cluster, run_id: str, job: str, status: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = jobs_of(cluster.report(run_id))
        if jobs[job]["status"] == status and jobs[job]["started_at"]:
            return
        time.sleep(0.2)
    raise AssertionError(f"{job} never reached {status}:\n{cluster.logs()}")


def test_cancel_reaches_the_container(cluster: Cluster, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"l.yml": CANCEL})
    proc = cluster.popen("run", "--pipeline", "long", cwd=repo)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    run_id = run_id_of(first)
    wait_for_job(cluster, run_id, "sleeper", "RUNNING")
    started = time.monotonic()
    out = cluster.xxci("cancel", run_id)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "cancel requested" in out.stdout
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert time.monotonic() - started < 20  # SIGTERM (sleep dies at once) well before 120 s
    report = cluster.report(run_id)
    assert report["status"] == "CANCELED"
    jobs = jobs_of(report)
    assert (jobs["sleeper"]["status"], jobs["sleeper"]["failure_reason"]) == (
        "CANCELED",
        "canceled",
    )
    assert jobs["ship"]["status"] in ("CANCELED", "SKIPPED")
    assert "CANCELED" in rest


RESTART = f"""
pipeline: {{name: restart}}
stages: [build, test]
default: {{image: {IMAGE}}}
jobs:
  - {{name: first, stage: build, script: ["sleep 4", "echo first done"]}}
  - {{name: second, stage: test, script: ["echo second"]}}
"""


def test_server_restart_mid_run_loses_nothing(cluster: Cluster, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"r.yml": RESTART})
    proc = cluster.popen("run", "--pipeline", "restart", cwd=repo)
    assert proc.stdout is not None
    run_id = run_id_of(proc.stdout.readline())
    wait_for_job(cluster, run_id, "first", "RUNNING")
    cluster.kill_server()
    proc.kill()
    proc.communicate()
    time.sleep(1)
    cluster.start_server()
    deadline = time.monotonic() + 60
    report = cluster.report(run_id)
    while report["status"] not in ("SUCCESS", "FAILED", "CANCELED") and time.monotonic() < deadline:
        time.sleep(0.5)
        report = cluster.report(run_id)
    assert report["status"] == "SUCCESS", cluster.logs()
    events = cluster.events(run_id)
    versions = [e.version for e in events]
    assert versions == list(range(1, len(events) + 1))  # no gap, no duplicate
    finished = Counter(
        (e.event.job, e.event.attempt) for e in events if isinstance(e.event, JobFinished)
    )
    assert all(n == 1 for n in finished.values()), finished
    assert {job for job, _ in finished} == {"first", "second"}
    assert sum(1 for e in events if e.event.type == "RunFinished") == 1


LOST = f"""
pipeline: {{name: lost}}
stages: [test]
default: {{image: {IMAGE}}}
jobs:
  - {{name: long, stage: test, script: ["sleep 3", "echo attempt $CI_JOB_ATTEMPT done"]}}
"""


def test_a_lost_worker_s_job_runs_again_elsewhere(cluster: Cluster, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"l.yml": LOST})
    proc = cluster.popen("run", "--pipeline", "lost", cwd=repo)
    assert proc.stdout is not None
    run_id = run_id_of(proc.stdout.readline())
    wait_for_job(cluster, run_id, "long", "RUNNING")
    first = jobs_of(cluster.report(run_id))["long"]["worker"]
    victim = next(w for w, name in zip(cluster.workers, ("w1", "w2"), strict=True) if name == first)
    victim.kill()
    # Its container outlives it (labelled with its pid).
    assert asyncio.run(containers_of_worker(victim.pid)) != []
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err + cluster.logs()
    said = f"   long: attempt 1 lost (worker {first} disconnected), retrying on another worker"
    assert any(line.endswith(said) for line in out.splitlines()), out
    job = jobs_of(cluster.report(run_id))["long"]
    assert job["status"] == "SUCCESS"
    assert job["attempt"] == 2
    assert job["worker"] != first
    assert [a["status"] for a in job["attempts"]] == ["FAILED", "SUCCESS"]
    assert job["attempts"][0]["failure_reason"] == "worker_lost"
    # The next worker on this host clears it. (Other workers on this host may have
    # cleared it already: the engine is shared, so ask whether it is gone, not who
    # removed it.)
    asyncio.run(DockerExecutor().remove_orphans())
    assert asyncio.run(containers_of_worker(victim.pid)) == []


async def containers_of_worker(pid: int) -> list[str]:
    """Containers made by worker process ``pid`` of this host."""
    labels = {LABEL_HOST: socket.gethostname(), LABEL_PID: str(pid)}
    async with DockerEngine() as engine:
        return await engine.container_ids(labels)


TAGGED = f"""
pipeline: {{name: tagged}}
stages: [test]
default: {{image: {IMAGE}}}
jobs:
  - {{name: gpu-only, stage: test, tags: [gpu], script: ["true"]}}
  - {{name: anywhere, stage: test, script: ["true"]}}
"""


def test_tags_pick_workers_with_those_labels(cluster: Cluster, tmp_path: Path) -> None:
    cluster.start_worker("w3", capacity=1, labels=("gpu",))
    cluster.wait_workers(3)
    repo = make_repo(tmp_path / "repo", {"t.yml": TAGGED})
    code, out, err = run(cluster, repo, "--pipeline", "tagged")
    assert code == 0, out + err
    jobs = jobs_of(cluster.report(run_id_of(out)))
    assert jobs["gpu-only"]["worker"] == "w3"


def test_local_run_writes_its_report(tmp_path: Path, docker_image: str) -> None:
    cluster = Cluster(tmp=tmp_path, port=0, data_dir=tmp_path / "unused")
    repo = make_repo(tmp_path / "repo", {"app.yml": SUCCESS}, {"src/input.txt": "source line\n"})
    out = cluster.xxci("run", "--local", "--pipeline", "app", cwd=repo)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "pipeline app #1 SUCCESS" in out.stdout
    report_file = tmp_path / "home" / "reports" / "app" / "1.json"
    doc = json.loads(report_file.read_text())
    assert doc["status"] == "SUCCESS"
    assert doc["local"] is True
    assert {j["name"] for s in doc["stages"] for j in s["jobs"]} == {"compile", "unit", "lint"}
    assert (tmp_path / "home" / "local.db").exists()
