"""A ``.gitlab-ci.yml`` end to end: the real CLI, server and workers, jobs in Docker."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tests.e2e.cluster import Cluster, run_id_of

IMAGE = "xxci-test/busybox:latest"


def gitlab_repo(root: Path, pipeline: str, files: dict[str, str] | None = None) -> Path:
    """A git repository (branch ``main``) with ``.gitlab-ci.yml`` and other files."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in {".gitlab-ci.yml": pipeline, **(files or {})}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "initial"], check=True)
    return root


def jobs_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {j["name"]: j for s in report["stages"] for j in s["jobs"]}


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {name: job["status"] for name, job in jobs_of(report).items()}


BUILD = """
include:
  - local: ci/templates.yml
variables:
  IMAGE_NAME: xxci-test/busybox
  GREETING: hello
  MESSAGE: "$GREETING from $CI_COMMIT_REF_NAME"
default:
  image: ${IMAGE_NAME}:latest
  before_script:
    - echo "before $CI_JOB_NAME"
stages: [build, test, deploy]
build:
  stage: build
  extends: .builder
  script:
    - sleep 2
    - mkdir -p out
    - echo "$MESSAGE by $BUILT_BY" > out/message.txt
    - echo "node $CI_NODE_INDEX/$CI_NODE_TOTAL" > "out/$TARGET.txt"
  parallel:
    matrix:
      - TARGET: [amd64, arm64]
  artifacts:
    paths: [out/]
lint:
  stage: deploy
  needs: []
  script: [echo linted]
test:
  needs:
    - job: build
      parallel:
        matrix:
          - TARGET: amd64
  script:
    - cat out/message.txt
    - cat out/amd64.txt
    - test ! -f out/arm64.txt
deploy:
  stage: deploy
  rules:
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH && $DEPLOY != "no"
  script: [echo "deploying $CI_COMMIT_SHORT_SHA"]
feature-only:
  rules:
    - if: $CI_COMMIT_BRANCH != $CI_DEFAULT_BRANCH
  script: [exit 1]
"""
TEMPLATES = """
.builder:
  variables:
    BUILT_BY: the template
"""


def test_a_gitlab_pipeline_with_matrix_dag_extends_include_rules(
    cluster: Cluster, tmp_path: Path
) -> None:
    repo = gitlab_repo(tmp_path / "repo", BUILD, {"ci/templates.yml": TEMPLATES})
    out = cluster.xxci("run", cwd=repo)
    assert out.returncode == 0, out.stdout + out.stderr + cluster.logs()
    run_id = run_id_of(out.stdout)
    report = cluster.report(run_id)
    assert statuses(report) == {
        "build: [amd64]": "SUCCESS",
        "build: [arm64]": "SUCCESS",
        "test": "SUCCESS",
        "lint": "SUCCESS",
        "deploy": "SUCCESS",
    }
    jobs = jobs_of(report)
    # needs: [] starts a job of the last stage while the first one still runs.
    assert jobs["lint"]["started_at"] < jobs["build: [amd64]"]["finished_at"]
    test_log = cluster.xxci("logs", run_id, "test").stdout
    assert '$ echo "before $CI_JOB_NAME"\nbefore test\n' in test_log
    assert "hello from main by the template\n" in test_log
    assert "node 1/2\n" in test_log
    arm = cluster.xxci("logs", run_id, "build: [arm64]").stdout
    assert "before build: [arm64]" in arm

    skipped = cluster.xxci("run", "--variable", "DEPLOY=no", cwd=repo)
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "deploy" not in statuses(cluster.report(run_id_of(skipped.stdout)))


FAILURE = f"""
image: {IMAGE}
stages: [build, test, deploy]
compile:
  stage: build
  script: [echo compiling, exit 3]
report:
  stage: test
  when: on_failure
  script: [echo "reporting the failure"]
unit:
  stage: test
  script: [echo never]
cleanup:
  stage: deploy
  when: always
  script: [echo cleaning up]
"""


def test_on_failure_and_always_after_a_failed_stage(cluster: Cluster, tmp_path: Path) -> None:
    repo = gitlab_repo(tmp_path / "repo", FAILURE)
    out = cluster.xxci("run", cwd=repo)
    assert out.returncode == 1, out.stdout + out.stderr
    report = cluster.report(run_id_of(out.stdout))
    assert report["status"] == "FAILED"
    assert statuses(report) == {
        "compile": "FAILED",
        "report": "SUCCESS",
        "unit": "SKIPPED",
        "cleanup": "SUCCESS",
    }


MANUAL = f"""
image: {IMAGE}
build:
  stage: build
  script: [echo built]
approve:
  stage: test
  when: manual
  allow_failure: false
  script: [echo approved]
ship:
  stage: deploy
  script: [echo shipped]
"""


def _wait_for_play_hint(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "waits to be played" in line:
            return "".join(lines)
    raise AssertionError("no play hint:\n" + "".join(lines))


def test_a_manual_job_waits_for_xxci_play(cluster: Cluster, tmp_path: Path) -> None:
    repo = gitlab_repo(tmp_path / "repo", MANUAL)
    proc = cluster.popen("run", cwd=repo)
    head = _wait_for_play_hint(proc)
    run_id = run_id_of(head)
    play = f"xxci play --server {cluster.address} 'gitlab-ci#1' approve"
    assert f"approve waits to be played: {play}" in head
    assert statuses(cluster.report(run_id))["ship"] == "PENDING"
    not_manual = cluster.xxci("play", run_id, "ship")
    assert (not_manual.returncode, not_manual.stdout) == (
        1,
        "cannot play job 'ship' of gitlab-ci #1: it is not a manual job\n",
    )
    played = cluster.xxci("play", "gitlab-ci#1", "approve")
    assert (played.returncode, played.stdout) == (0, "played job approve of gitlab-ci #1\n")
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest + err
    assert statuses(cluster.report(run_id)) == {
        "build": "SUCCESS",
        "approve": "SUCCESS",
        "ship": "SUCCESS",
    }


def test_a_local_manual_job_is_played_from_another_process(
    tmp_path: Path, docker_image: str
) -> None:
    cluster = Cluster(tmp=tmp_path, port=0, data_dir=tmp_path / "unused")
    repo = gitlab_repo(tmp_path / "repo", MANUAL)
    proc = cluster.popen("run", "--local", cwd=repo)
    head = _wait_for_play_hint(proc)
    assert "approve waits to be played: xxci play --local 'gitlab-ci#1' approve" in head
    played = cluster.xxci("play", "--local", "gitlab-ci#1", "approve")
    assert played.returncode == 0, played.stdout + played.stderr
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest + err
    assert "pipeline gitlab-ci #1 SUCCESS" in rest


LATER = f"""
image: {IMAGE}
build:
  stage: build
  script: [echo built]
deploy:
  stage: deploy
  when: manual
  script: [echo "deployed $CI_JOB_NAME"]
"""


def test_a_manual_job_is_played_after_its_run_finished(cluster: Cluster, tmp_path: Path) -> None:
    repo = gitlab_repo(tmp_path / "repo", LATER)
    out = cluster.xxci("run", cwd=repo)
    assert out.returncode == 0, out.stdout + out.stderr
    run_id = run_id_of(out.stdout)
    assert statuses(cluster.report(run_id)) == {"build": "SUCCESS", "deploy": "MANUAL"}
    played = cluster.xxci("play", run_id, "deploy")
    assert (played.returncode, played.stdout) == (
        0,
        "played job deploy of gitlab-ci #1 (the run, SUCCESS, is open again)\n",
    )
    follow = cluster.xxci("events", run_id, "--follow")  # returns when it finishes again
    assert follow.returncode == 0, follow.stderr
    report = cluster.report(run_id)
    assert (report["status"], statuses(report)) == (
        "SUCCESS",
        {"build": "SUCCESS", "deploy": "SUCCESS"},
    )
    again = cluster.xxci("play", run_id, "deploy")
    assert (again.returncode, again.stdout) == (
        1,
        "run gitlab-ci #1 already finished (SUCCESS)\n",
    )


def test_a_local_manual_job_is_played_and_run_after_its_run_finished(
    tmp_path: Path, docker_image: str
) -> None:
    cluster = Cluster(tmp=tmp_path, port=0, data_dir=tmp_path / "unused")
    repo = gitlab_repo(tmp_path / "repo", LATER)
    out = cluster.xxci("run", "--local", cwd=repo)
    assert out.returncode == 0, out.stdout + out.stderr
    played = cluster.xxci("play", "--local", "gitlab-ci#1", "deploy")
    assert played.returncode == 0, played.stdout + played.stderr
    assert played.stdout.startswith(
        "played job deploy of gitlab-ci #1 (the run, SUCCESS, is open again)\n"
    )
    assert "pipeline gitlab-ci #1 SUCCESS" in played.stdout
    logs = cluster.xxci("logs", "--local", "gitlab-ci#1", "deploy")
    assert logs.stdout == '$ echo "deployed $CI_JOB_NAME"\ndeployed deploy\n'


AFTER = """
variables:
  WHO: world
check:
  tags: [docker, linux]
  script:
    - echo "hello $WHO"
    - exit 1
  after_script:
    - 'echo "after: $CI_JOB_STATUS"'
  allow_failure: true
"""


def test_after_script_default_image_and_runner_tags_in_a_local_run(
    tmp_path: Path, docker_image: str
) -> None:
    cluster = Cluster(tmp=tmp_path, port=0, data_dir=tmp_path / "unused")
    repo = gitlab_repo(tmp_path / "repo", AFTER)
    out = cluster.xxci("run", "--local", cwd=repo)
    assert out.returncode == 0, out.stdout + out.stderr
    logs = cluster.xxci("logs", "--local", "gitlab-ci#1", "check").stdout
    assert logs == (
        '$ echo "hello $WHO"\nhello world\n$ exit 1\n'
        'Running after_script\n$ echo "after: $CI_JOB_STATUS"\nafter: failed\n'
    )
