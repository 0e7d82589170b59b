"""Reports, status, logs, events and verify end to end: a server and two workers as
processes (or a local run), jobs in Docker, every command through the real CLI."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.e2e.cluster import Cluster, make_repo, run_id_of
from tests.e2e.test_engine import IMAGE, wait_for_job

AUDIT = f"""
pipeline: {{name: audit}}
stages: [build, test]
default: {{image: {IMAGE}}}
jobs:
  - name: compile
    stage: build
    script: ["echo compiled", "echo careful >&2"]
  - name: slow
    stage: test
    script: ["echo start", "sleep 3", "echo end"]
  - name: gpu
    stage: test
    tags: [gpu]
    script: ["true"]
"""


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def test_a_run_followed_reported_and_verified(cluster: Cluster, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"audit.yml": AUDIT})
    run = cluster.popen("run", "--pipeline", "audit", cwd=repo)
    assert run.stdout is not None
    run_id = run_id_of(run.stdout.readline())
    wait_for_job(cluster, run_id, "slow", "RUNNING")

    logs = cluster.popen("logs", "--follow", "audit#1", "slow", cwd=tmp_path)
    status = cluster.xxci("status")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert cells(lines[2])[:3] == ["audit #1", "RUNNING", "test"]
    gpu = next(cells(line) for line in lines if " gpu " in line)
    assert gpu[2:] == ["QUEUED", "1", "no connected worker has the label gpu"]
    workers = lines[lines.index("WORKERS") + 1 :]
    workers = workers[: workers.index("")]  # the server's limits come after a blank line
    assert sorted(cells(w)[0] for w in workers[1:]) == ["w1", "w2"]
    assert any("audit #1 slow#1" in w for w in workers)

    out, err = logs.communicate(timeout=30)
    assert logs.returncode == 0, err
    assert out == "$ echo start\nstart\n$ sleep 3\n$ echo end\nend\n"

    # gpu can never run here: cancel, then audit what happened.
    assert cluster.xxci("cancel", run_id).returncode == 0
    run.communicate(timeout=30)
    assert run.returncode == 1

    report = cluster.xxci("report", "--pipeline", "audit", "--run", "1", "--format", "json")
    assert json.loads(report.stdout) == cluster.report(run_id)
    job = cluster.xxci("report", "--pipeline", "audit", "--stage", "build", "--job", "compile")
    steps = job.stdout.split("commands (attempt 1)\n")[1].splitlines()
    assert [cells(s) for s in steps] == [
        ["STEP", "EXIT", "COMMAND"],
        ["0", "0", "echo compiled"],
        ["1", "0", "echo careful >&2"],
    ]
    compile_log = cluster.xxci("logs", run_id, "compile")
    assert compile_log.stdout == "$ echo compiled\ncompiled\n$ echo careful >&2\ncareful\n"

    events = cluster.xxci("events", "audit/1", "--format", "json")
    docs = [json.loads(line) for line in events.stdout.splitlines()]
    assert [d["version"] for d in docs] == list(range(1, len(docs) + 1))
    assert (docs[0]["type"], docs[-1]["type"], docs[-1]["data"]) == (
        "RunCreated",
        "RunFinished",
        {"status": "CANCELED"},
    )
    verify = cluster.xxci("verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert re.fullmatch(
        r"verified 1 run, (\d+) events: all derived data agrees with the log\n"
        r"hash chain: intact over \1 events\n",
        verify.stdout,
    )


LOCAL = f"""
pipeline: {{name: here}}
stages: [test]
default: {{image: {IMAGE}}}
jobs:
  - {{name: hello, stage: test, script: ["echo hello from $CI_JOB_NAME"]}}
  - {{name: oops, stage: test, allow_failure: true, script: ["exit 4"]}}
"""


def test_local_reports_read_the_local_log(tmp_path: Path, docker_image: str) -> None:
    cluster = Cluster(tmp=tmp_path, port=0, data_dir=tmp_path / "unused")
    repo = make_repo(tmp_path / "repo", {"here.yml": LOCAL})
    out = cluster.xxci("run", "--local", "--pipeline", "here", cwd=repo)
    assert out.returncode == 0, out.stdout + out.stderr
    report_file = tmp_path / "home" / "reports" / "here" / "1.json"

    def local(*args: str) -> subprocess.CompletedProcess[str]:
        result = cluster.xxci(*args, "--local")
        assert "Traceback" not in result.stderr
        return result

    as_json = local("report", "--pipeline", "here", "--run", "1", "--format", "json")
    assert as_json.stdout == report_file.read_text()
    listing = local("report").stdout.splitlines()
    assert cells(listing[1])[:5] == ["here", "#1", "main", cells(listing[1])[3], "SUCCESS"]
    stage = local("report", "--pipeline", "here", "--stage", "test").stdout
    oops = next(cells(line) for line in stage.splitlines() if line.startswith("oops"))
    assert oops[:5] == ["oops", "FAILED", "yes", "script_failure", "4"]
    hello = local("logs", "here#1", "hello").stdout
    assert hello == "$ echo hello from $CI_JOB_NAME\nhello from hello\n"
    assert local("status").stdout.startswith("no runs in flight\n")
    assert local("verify").returncode == 0

    doc = json.loads(report_file.read_text())
    doc["stages"][0]["jobs"][1]["allowed_failure"] = False
    report_file.write_text(json.dumps(doc))
    tampered = local("verify")
    assert tampered.returncode == 1
    assert tampered.stdout == (
        f"{report_file}: stages[0].jobs[1].allowed_failure: file has False, the log says True\n"
    )
