"""Services, caches and secrets end to end: a real server and workers (or ``--local``),
the real CLI, jobs in Docker. The leak check reads every file and every SQLite row
the runs left behind."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import sqlite3
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.cluster import TOKEN, Cluster, free_port, make_repo, run_id_of
from tests.e2e.test_engine import jobs_of, wait_for_job
from xxci.worker.docker.container_config import LABEL_HOST, LABEL_PID, LABEL_RUN
from xxci.worker.docker.engine import DockerEngine

IMAGE = "xxci-test/busybox:latest"
SECRET = "e2e-s3cret-ABCD1"  # 16 characters: split 8 + 8 below
SECRET_B64 = base64.b64encode(SECRET.encode()).decode()
SALT = "salt-0123456789"  # a masked: true variable (in the pipeline file, so not secret)

PIPELINE = f"""
pipeline: {{name: env}}
stages: [build, test]
default: {{image: {IMAGE}}}
variables:
  SIGNING_SALT: {{value: {SALT}, masked: true}}
jobs:
  - name: fetch
    stage: build
    services:
      - name: {IMAGE}
        alias: web
        command:
          - sh
          - -c
          - mkdir -p /www && echo payload > /www/index.html && echo service-up
            && exec httpd -f -v -p 80 -h /www
    secrets: [DEPLOY_TOKEN, {{name: DEPLOY_TOKEN, variable: TOKEN_FILE, type: file}}]
    cache:
      key: dl-$CI_COMMIT_REF_SLUG
      paths: [dl/]
    script:
      - if [ -f dl/payload ]; then echo "cache hit $(cat dl/payload)"; else echo cache miss; fi
      - mkdir -p dl
      - printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 10 web 80 | tail -n 1 > dl/payload
      - echo "fetched $(cat dl/payload)"
      - echo "whole $DEPLOY_TOKEN"
      - printf 'split %s' "${{DEPLOY_TOKEN%????????}}"; printf '%s\\n' "${{DEPLOY_TOKEN#????????}}"
      - printf '%s' "$DEPLOY_TOKEN" | base64
      - cat "$TOKEN_FILE"; echo
      - echo "salt $SIGNING_SALT"
  - name: reader
    stage: test
    cache: {{key: dl-$CI_COMMIT_REF_SLUG, paths: [dl/], policy: pull}}
    script:
      - echo "reader sees $(cat dl/payload)"
      - echo changed > dl/payload
      - echo "token:[$DEPLOY_TOKEN]"
  - name: broken
    stage: test
    allow_failure: true
    services:
      - name: {IMAGE}
        alias: db
        command: [sh, -c, "echo db cannot start; exit 3"]
    script: [echo never]
"""


def leaks(root: Path) -> list[str]:
    """Every place under ``root`` holding the secret or its base64 form, but the store."""
    found = []
    needles = (SECRET.encode(), SECRET_B64.encode(), SECRET_B64.rstrip("=").encode())
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name.startswith("secrets.db"):
            continue
        data = path.read_bytes()
        if any(n in data for n in needles):
            found.append(str(path))
        if data[:2] == b"\x1f\x8b" or tarfile.is_tarfile(path):  # blobs: look inside
            found += [f"{path}:{m}" for m in _archive_leaks(path, needles)]
        if data.startswith(b"SQLite format 3"):
            found += [f"{path}:{row}" for row in _sqlite_leaks(path, needles)]
    return found


def _archive_leaks(path: Path, needles: tuple[bytes, ...]) -> list[str]:
    try:
        with tarfile.open(path) as tar:
            hits = []
            for member in tar:
                handle = tar.extractfile(member) if member.isfile() else None
                if handle is not None and any(n in handle.read() for n in needles):
                    hits.append(member.name)
            return hits
    except (tarfile.TarError, EOFError, OSError):
        return []


def _sqlite_leaks(path: Path, needles: tuple[bytes, ...]) -> list[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        hits = []
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    raw = value if isinstance(value, bytes) else str(value).encode()
                    if any(n in raw for n in needles):
                        hits.append(f"{table}: {row[:4]}")
        return hits
    finally:
        conn.close()


def check_first_run(log: str) -> None:
    assert "cache miss" in log
    assert "fetched payload" in log
    assert "whole [MASKED]" in log
    assert "split [MASKED]" in log
    assert "salt [MASKED]" in log and SALT not in log
    assert log.count("[MASKED]") >= 5  # whole, split, base64, the file, the variable
    assert SECRET not in log and SECRET_B64.rstrip("=") not in log


def test_services_caches_and_secrets_on_workers(tmp_path: Path, docker_image: str) -> None:
    c = Cluster(tmp=tmp_path, port=free_port(), data_dir=tmp_path / "data", http_port=free_port())
    c.start_server()
    try:
        repo = make_repo(tmp_path / "repo", {"env.yml": PIPELINE})
        refused = c.xxci("run", "--pipeline", "env", cwd=repo)
        assert refused.returncode == 1
        assert (
            "job 'fetch' asks for secret 'DEPLOY_TOKEN', which is not set"
            " (xxci secret set DEPLOY_TOKEN)" in refused.stderr
        )
        secret = tmp_path / "token.txt"
        secret.write_text(SECRET)
        out = c.xxci("secret", "set", "DEPLOY_TOKEN", "--from-file", str(secret))
        assert out.stdout == "secret DEPLOY_TOKEN set for every pipeline (16 bytes)\n"
        secret.unlink()
        assert "DEPLOY_TOKEN  (every)   16" in c.xxci("secret", "ls").stdout

        c.start_worker("w1")
        c.wait_workers(1)
        first = c.xxci("run", "--pipeline", "env", "-v", cwd=repo)
        assert first.returncode == 0, first.stdout + first.stderr + c.logs()
        run1 = run_id_of(first.stdout)
        log = c.xxci("logs", run1, "fetch").stdout
        check_first_run(log)
        assert "cache: saved key 'dl-main'" in log
        assert "reader sees payload" in c.xxci("logs", run1, "reader").stdout
        assert "token:[]" in c.xxci("logs", run1, "reader").stdout  # not given to it
        assert c.xxci("logs", run1, "fetch", "--service", "web").stdout.startswith("service-up\n")
        broken = jobs_of(c.report(run1))["broken"]
        assert (broken["status"], broken["failure_reason"]) == ("FAILED", "service_failure")
        assert "exited with code 3 before the job started" in broken["message"]
        assert "db cannot start" in broken["message"]
        listing = c.xxci("cache", "ls").stdout
        assert listing.splitlines()[1].split()[:2] == ["env", "dl-main"]
        assert listing.endswith("1 cache entry, " + listing.splitlines()[1].split()[2] + " B\n")

        # The next run goes to another worker: the cache comes from the orchestrator,
        # as the first run's fetch saved it (the reader's pull-only change is not).
        c.workers[0].terminate()
        c.workers[0].wait(30)
        c.start_worker("w2")
        c.wait_workers(1)
        second = c.xxci("run", "--pipeline", "env", cwd=repo)
        assert second.returncode == 0, second.stdout + second.stderr + c.logs()
        run2 = run_id_of(second.stdout)
        log2 = c.xxci("logs", run2, "fetch").stdout
        assert "cache: restored key 'dl-main'" in log2 and "from the orchestrator" in log2
        assert "cache hit payload" in log2
        assert jobs_of(c.report(run2))["fetch"]["worker"] == "w2"

        given = [e for e in c.events(run1) if e.event.type == "SecretsGiven"]
        assert [(e.event.job, e.event.names) for e in given] == [  # type: ignore[attr-defined]
            ("fetch", ("DEPLOY_TOKEN",))
        ]
        for command in (
            ["events"],
            ["report", "--format", "json"],
            ["report", "--pipeline", "env"],
        ):
            shown = c.xxci(*command)
            assert shown.returncode == 0 and SECRET not in shown.stdout
        web = web_texts(c, run1)
        assert "[MASKED]" in web[f"/api/v1/runs/{run1}/jobs/fetch/log"]
        assert [path for path, text in web.items() if SECRET in text] == []
        assert c.xxci("cache", "rm", "--pipeline", "env").stdout == "removed 1 cache entry\n"
    finally:
        c.stop()
    assert stat_mode(tmp_path / "data" / "secrets.db") == 0o600
    assert leaks(tmp_path / "data") == []
    assert leaks(tmp_path / "home") == []


def web_texts(c: Cluster, run_id: str) -> dict[str, str]:
    """What the web view and its JSON API answer about ``run_id``, by path."""
    paths = [
        f"/api/v1/runs/{run_id}",
        f"/api/v1/runs/{run_id}/jobs/fetch",
        f"/api/v1/runs/{run_id}/jobs/fetch/log",
        "/api/v1/events?limit=1000",
        f"/runs/{run_id}",
        f"/runs/{run_id}/jobs/fetch",
        f"/runs/{run_id}/jobs/fetch/log.txt",
    ]
    texts = {}
    for path in paths:
        request = urllib.request.Request(
            c.web_url + path, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            texts[path] = answer.read().decode()
    return texts


def stat_mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


def test_services_caches_and_secrets_locally(tmp_path: Path, docker_image: str) -> None:
    c = Cluster(tmp=tmp_path, port=0, data_dir=tmp_path / "unused")
    repo = make_repo(tmp_path / "repo", {"env.yml": PIPELINE})
    set_out = c.xxci("secret", "set", "--local", "DEPLOY_TOKEN", input_text=SECRET + "\n")
    assert set_out.stdout == "secret DEPLOY_TOKEN set for every pipeline (16 bytes)\n"
    first = c.xxci("run", "--local", "--pipeline", "env", cwd=repo)
    assert first.returncode == 0, first.stdout + first.stderr
    check_first_run(c.xxci("logs", "--local", "env#1", "fetch").stdout)
    second = c.xxci("run", "--local", "--pipeline", "env", cwd=repo)
    assert second.returncode == 0, second.stdout + second.stderr
    log2 = c.xxci("logs", "--local", "env#2", "fetch").stdout
    assert "cache hit payload" in log2 and "from this worker's copy" in log2
    report = json.loads((tmp_path / "home" / "reports" / "env" / "2.json").read_text())
    assert report["status"] == "SUCCESS"
    broken = jobs_of(report)["broken"]
    assert (broken["status"], broken["failure_reason"]) == ("FAILED", "service_failure")
    reader = c.xxci("logs", "--local", "env#2", "reader").stdout
    assert "reader sees payload" in reader and "token:[]" in reader
    service = c.xxci("logs", "--local", "env#2", "fetch", "--service", "web").stdout
    assert service.startswith("service-up\n")
    assert leaks(tmp_path / "home") == []
    assert stat_mode(tmp_path / "home" / "secrets.db") == 0o600


SLOW = f"""
pipeline: {{name: slow}}
stages: [test]
default: {{image: {IMAGE}}}
jobs:
  - name: sleeper
    stage: test
    services:
      - name: {IMAGE}
        alias: side
        command: [sleep, "300"]
    script: ["echo started", "sleep 300"]
"""


async def left_by(labels: dict[str, str]) -> tuple[list[str], list[str]]:
    async with DockerEngine() as engine:
        containers = await engine.container_ids(labels)
        networks = [n for n, _ in await engine.labelled_networks(labels)]
    return containers, networks


def wait_until_gone(labels: dict[str, str], timeout: float = 30) -> tuple[list[str], list[str]]:
    deadline = time.monotonic() + timeout
    left = asyncio.run(left_by(labels))
    while left != ([], []) and time.monotonic() < deadline:
        time.sleep(0.2)
        left = asyncio.run(left_by(labels))
    return left


@pytest.mark.parametrize("how", ["cancel", "kill"])
def test_nothing_of_a_job_with_services_outlives_a_cancel_or_a_killed_worker(
    cluster: Cluster, tmp_path: Path, how: str
) -> None:
    repo = make_repo(tmp_path / "repo", {"s.yml": SLOW})
    proc = cluster.popen("run", "--pipeline", "slow", cwd=repo)
    assert proc.stdout is not None
    run_id = run_id_of(proc.stdout.readline())
    wait_for_job(cluster, run_id, "sleeper", "RUNNING")
    of_run = {LABEL_RUN: run_id}
    containers, networks = asyncio.run(left_by(of_run))
    assert len(containers) == 2 and len(networks) == 1  # the job, its service, the network
    if how == "cancel":
        assert cluster.xxci("cancel", run_id).returncode == 0
        proc.communicate(timeout=60)
        assert wait_until_gone(of_run) == ([], [])
        return
    worker = jobs_of(cluster.report(run_id))["sleeper"]["worker"]
    victim = cluster.workers[("w1", "w2").index(worker)]
    victim.kill()
    victim.wait(10)
    of_victim = {LABEL_HOST: socket.gethostname(), LABEL_PID: str(victim.pid)}
    assert asyncio.run(left_by(of_victim)) != ([], [])  # it died without cleaning up
    cluster.xxci("cancel", run_id)
    proc.communicate(timeout=60)
    cluster.start_worker("w3")  # its start sweeps what dead workers of this host left
    assert wait_until_gone(of_victim) == ([], [])
