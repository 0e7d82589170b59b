"""Worker identity end to end: a real `xxci server`, real `xxci worker` processes and
an attacker holding the shared token, speaking gRPC from outside."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import grpc

from tests.e2e.cluster import TOKEN, Cluster, make_repo, run_id_of
from tests.e2e.test_recovery import wait_gone
from tests.fakes.raw_worker import RawWorker, ref
from xxci.common.pb.v1 import types_pb2, worker_pb2

IMAGE = "xxci-test/busybox:latest"

SLOW_FAILURE = f"""
pipeline: {{name: slow}}
stages: [test]
default: {{image: {IMAGE}}}
jobs:
  - {{name: long, stage: test, script: ["echo real output", "sleep 6", "exit 3"]}}
"""


def job_of(cluster: Cluster, run_id: str, job: str) -> dict[str, Any]:
    report = cluster.report(run_id)
    return next(j for s in report["stages"] for j in s["jobs"] if j["name"] == job)


def wait_until_started(cluster: Cluster, run_id: str, job: str, attempt: int = 1) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = job_of(cluster, run_id, job)
        if found["status"] == "RUNNING" and found["started_at"] and found["attempt"] == attempt:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{job} #{attempt} never started:\n{cluster.logs()}")


def worker_ids(cluster: Cluster) -> dict[str, str]:
    """Name -> id of every registered worker (`xxci worker ls --format json`)."""
    out = cluster.xxci("worker", "ls", "--format", "json", check=True)
    return {w["name"]: w["id"] for w in json.loads(out.stdout)["workers"]}


def worker_stream(cluster: Cluster, worker_id: str) -> list[dict[str, Any]]:
    """The events of a worker's stream, as `xxci events --format json` prints them."""
    out = cluster.xxci("events", "--format", "json", check=True)
    events = [json.loads(line) for line in out.stdout.splitlines()]
    return [e for e in events if e["stream"] == f"worker:{worker_id}"]


async def attack(address: str, victim: str, run_id: str) -> dict[str, Any]:
    """Everything a holder of the shared token might try against ``victim``'s job."""
    seen: dict[str, Any] = {}
    async with (
        RawWorker(address, "impostor", token=TOKEN) as impostor,
        RawWorker(address, "rogue", token=TOKEN) as rogue,
    ):
        # 1. The shared token and the victim's id, as xxci status shows it.
        await impostor.hello(victim, bearer=TOKEN)
        seen["shared token"] = await impostor.refused()
        # 2. A worker of its own, registered with the token, claiming the victim's id.
        await rogue.register()
        await rogue.hello(victim)
        seen["own credential"] = await rogue.refused()
        # 3. Connected as itself, it reports the victim's attempt and forges its output.
        seen["rogue id"] = await rogue.connect()
        await forge_end(rogue, run_id, "long")
    return seen


async def forge_end(rogue: RawWorker, run_id: str, job: str) -> None:
    """``rogue`` (connected as itself) sends output for ``job``'s first attempt, then
    reports it a success; returns once the orchestrator has handled both."""
    chunk = worker_pb2.LogChunk(
        ref=ref(run_id, job), seq=1, stream=types_pb2.LOG_STREAM_STDOUT, data=b"forged\n"
    )
    await rogue.send(seq=1, log_chunk=chunk)
    done = worker_pb2.JobFinished(
        ref=ref(run_id, job), status=worker_pb2.JOB_RESULT_SUCCESS, exit_code=0
    )
    await rogue.send(seq=2, job_finished=done)
    while (await rogue.expect("ack")).ack.through < 2:
        pass


async def forge_as_a_worker_of_its_own(address: str, run_id: str, job: str) -> str:
    """A rogue registers with the shared token and forges ``job``'s end; its id."""
    async with RawWorker(address, "rogue", token=TOKEN) as rogue:
        rogue_id = await rogue.connect()
        await forge_end(rogue, run_id, job)
    return rogue_id


def test_an_impostor_with_the_shared_token_cannot_take_a_worker_s_job(
    cluster: Cluster, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", {"s.yml": SLOW_FAILURE})
    proc = cluster.popen("run", "--pipeline", "slow", cwd=repo)
    assert proc.stdout is not None
    run_id = run_id_of(proc.stdout.readline())
    running = wait_until_started(cluster, run_id, "long")
    victim = worker_ids(cluster)[running["worker"]]

    seen = asyncio.run(attack(cluster.address, victim, run_id))

    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 1, out + err + cluster.logs()
    rogue = seen["rogue id"]
    assert seen["shared token"] == (
        grpc.StatusCode.UNAUTHENTICATED,
        "a worker connects with its own credential, not the shared token: register it first",
    )
    assert seen["own credential"] == (
        grpc.StatusCode.PERMISSION_DENIED,
        f"worker {rogue} may not connect as worker {victim}",
    )
    job = job_of(cluster, run_id, "long")
    assert (job["status"], job["exit_code"], job["attempt"]) == ("FAILED", 3, 1)
    assert job["worker"] == running["worker"]
    logs = cluster.xxci("logs", run_id, "long", check=True)
    assert "real output" in logs.stdout and "forged" not in logs.stdout

    events = worker_stream(cluster, victim)
    assert [e["type"] for e in events] == [
        "WorkerRegistered",
        "WorkerConnected",
        "ConnectionRefused",
        "ConnectionRefused",
    ], "the victim's stream must not have been replaced"
    refused = [(e["data"]["reason"], e["data"]["presented"], e["data"]["name"]) for e in events[2:]]
    assert refused == [
        (
            "a connection without this worker's credential claimed its id",
            "no credential",
            "impostor",
        ),
        (f"worker {rogue} claimed this worker's id", f"worker:{rogue}", "rogue"),
    ]
    rejected = [
        (e["data"]["message"], e["data"]["job"], e["data"]["reason"])
        for e in worker_stream(cluster, rogue)
        if e["type"] == "MessageRejected"
    ]
    assert rejected == [
        ("log_chunk", "long", "the attempt is not assigned to this worker"),
        ("job_finished", "long", "the attempt is not assigned to this worker"),
    ]


RETRIED = f"""
pipeline: {{name: retried}}
stages: [test]
default: {{image: {IMAGE}}}
jobs:
  - name: pinned
    stage: test
    tags: [pinned]
    script:
      - 'if [ "$CI_JOB_ATTEMPT" = 1 ]; then sleep 120; fi'
      - echo "done on attempt $CI_JOB_ATTEMPT"
"""


def run_worker(cluster: Cluster, work_dir: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """`xxci worker` in the foreground, for a worker that is expected to stop by itself."""
    args = ["worker", "--name", "pinned", "--label", "pinned", "--work-dir", str(work_dir)]
    return cluster.xxci(*args, *flags, timeout=60)


def test_a_revoked_worker_is_cut_off_and_comes_back_only_by_registering_again(
    cluster: Cluster, tmp_path: Path
) -> None:
    work_dir = tmp_path / "pinned-worker"
    cluster.start_worker("pinned", capacity=1, labels=("pinned",), work_dir=work_dir)
    cluster.wait_workers(3)
    pinned = cluster.workers[-1]
    worker_id = worker_ids(cluster)["pinned"]
    credential = json.loads((work_dir / "worker-credential").read_text())["credential"]
    assert (work_dir / "worker-credential").stat().st_mode & 0o777 == 0o600

    # A worker's credential is no client token.
    status = cluster.xxci("status", "--token", credential)
    assert status.returncode == 1
    assert status.stderr == (
        f"error: the orchestrator at {cluster.address} refused the token:"
        " missing or invalid token\n"
    )

    repo = make_repo(tmp_path / "repo", {"r.yml": RETRIED})
    proc = cluster.popen("run", "--pipeline", "retried", cwd=repo)
    assert proc.stdout is not None
    run_id = run_id_of(proc.stdout.readline())
    wait_until_started(cluster, run_id, "pinned")

    revoked = cluster.xxci("worker", "revoke", worker_id)
    assert (revoked.returncode, revoked.stderr) == (0, "")
    assert revoked.stdout == (
        f"worker {worker_id} (pinned) revoked: it is disconnected, its jobs run again"
        " elsewhere, and it cannot connect until it registers again (xxci worker --register)\n"
    )
    refusal = (
        f"error: the orchestrator at {cluster.address} refused this worker: worker {worker_id}"
        " was revoked: register it again (xxci worker --register)"
    )
    assert pinned.wait(30) == 1
    assert (tmp_path / "worker-pinned.log").read_text().splitlines()[-1] == refusal

    # Started again as it was, it is refused again; registered anew, it serves.
    again = run_worker(cluster, work_dir)
    assert again.returncode == 1
    assert again.stderr.splitlines()[-1] == refusal
    cluster.start_worker("pinned", capacity=1, labels=("pinned",), work_dir=work_dir, register=True)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, out + err + cluster.logs()

    job = job_of(cluster, run_id, "pinned")
    assert job["attempt"] == 2
    assert [a["failure_reason"] for a in job["attempts"]] == ["worker_lost", None]
    logs = cluster.xxci("logs", run_id, "pinned", check=True)
    assert "done on attempt 2" in logs.stdout

    listed = json.loads(cluster.xxci("worker", "ls", "--format", "json", check=True).stdout)
    states = {
        (w["name"], w["id"] == worker_id): (w["connected"], w["revoked_at"] is not None)
        for w in listed["workers"]
    }
    assert states == {
        ("w1", False): (True, False),
        ("w2", False): (True, False),
        ("pinned", True): (False, True),
        ("pinned", False): (True, False),
    }
    assert [e["type"] for e in worker_stream(cluster, worker_id)] == [
        "WorkerRegistered",
        "WorkerConnected",
        "WorkerRevoked",
        "WorkerDisconnected",
        "ConnectionRefused",
        "ConnectionRefused",
    ]
    twice = cluster.xxci("worker", "revoke", worker_id)
    assert twice.returncode == 1
    assert twice.stdout.startswith(f"worker {worker_id} (pinned) was revoked already, at ")
    unknown = cluster.xxci("worker", "revoke", "nope")
    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert unknown.stderr == "error: no worker 'nope' (xxci worker ls lists them)\n"


def test_a_forged_end_leaves_the_real_worker_s_lease_so_its_death_is_noticed(
    cluster: Cluster, tmp_path: Path
) -> None:
    work_dir = tmp_path / "pinned-worker"
    cluster.start_worker("pinned", capacity=1, labels=("pinned",), work_dir=work_dir)
    cluster.wait_workers(3)
    pinned = cluster.workers[-1]
    repo = make_repo(tmp_path / "repo", {"r.yml": RETRIED})
    proc = cluster.popen("run", "--pipeline", "retried", cwd=repo)
    assert proc.stdout is not None
    run_id = run_id_of(proc.stdout.readline())
    wait_until_started(cluster, run_id, "pinned")

    rogue = asyncio.run(forge_as_a_worker_of_its_own(cluster.address, run_id, "pinned"))
    job = job_of(cluster, run_id, "pinned")
    assert (job["status"], job["attempt"], job["worker"]) == ("RUNNING", 1, "pinned")

    # The real worker dies without a word: its lease runs out and the attempt is lost
    # (had the forged end released the lease, the job would stay RUNNING for ever).
    pinned.kill()
    pinned.wait(10)
    deadline = time.monotonic() + 60
    while job_of(cluster, run_id, "pinned")["attempt"] < 2:
        assert time.monotonic() < deadline, (
            f"the dead worker's attempt was never lost:\n{cluster.logs()}"
        )
        time.sleep(0.2)
    # Back with the same credential, it clears the dead process's container and runs
    # the second attempt.
    cluster.start_worker("pinned", capacity=1, labels=("pinned",), work_dir=work_dir)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, out + err + cluster.logs()

    job = job_of(cluster, run_id, "pinned")
    assert (job["status"], job["attempt"]) == ("SUCCESS", 2)
    assert [a["failure_reason"] for a in job["attempts"]] == ["worker_lost", None]
    logs = cluster.xxci("logs", run_id, "pinned", "--attempt", "1", check=True)
    assert "forged" not in logs.stdout
    rejected = [
        (e["data"]["message"], e["data"]["job"], e["data"]["reason"])
        for e in worker_stream(cluster, rogue)
        if e["type"] == "MessageRejected"
    ]
    assert rejected == [
        ("log_chunk", "pinned", "the attempt is not assigned to this worker"),
        ("job_finished", "pinned", "the attempt is not assigned to this worker"),
    ]
    wait_gone(run_id)
