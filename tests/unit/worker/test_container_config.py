"""What a job's container is made of, built without Docker."""

from __future__ import annotations

import io
import tarfile

from xxci.worker.docker.container_config import (
    bootstrap_archive,
    container_config,
    container_name,
)
from xxci.worker.docker.script import render_wrapper
from xxci.worker.executor import Assignment

NONCE = "0123456789abcdef0123456789abcdef"
JOB = Assignment(
    run_id="r-7",
    job="unit tests",
    attempt=2,
    stage="test",
    image="python:3.12-slim",
    script=("make test",),
    variables={"CI": "true", "A": "x=y"},
)


def test_the_config_runs_the_script_under_init_with_the_job_environment() -> None:
    config = container_config(JOB, host="ci-1", pid=4242)
    assert config["Image"] == "python:3.12-slim"
    assert config["Entrypoint"] == ["/bin/sh", "/.xxci/run.sh"]
    assert config["Cmd"] == []
    assert config["WorkingDir"] == "/workspace"
    assert config["Env"] == ["CI=true", "A=x=y", "TINI_KILL_PROCESS_GROUP=1"]
    assert config["HostConfig"] == {"Init": True}
    assert (config["Tty"], config["OpenStdin"], config["AttachStdin"]) == (False, False, False)
    assert (config["AttachStdout"], config["AttachStderr"]) == (True, True)


def test_the_labels_name_the_attempt_and_the_worker_process() -> None:
    assert container_config(JOB, host="ci-1", pid=4242)["Labels"] == {
        "xxci.run": "r-7",
        "xxci.job": "unit tests",
        "xxci.attempt": "2",
        "xxci.worker.host": "ci-1",
        "xxci.worker.pid": "4242",
    }


def test_container_names_are_safe_bounded_and_unique_per_nonce() -> None:
    assert container_name(JOB, NONCE) == "xxci-r-7-unit_tests-2-01234567"
    long = Assignment("r" * 300, "j", 1, "s", "img", ("true",))
    name = container_name(long, NONCE)
    assert len(name) <= 120 and name.endswith("-01234567")
    assert container_name(JOB, "fedcba9876543210") != container_name(JOB, NONCE)


def test_the_bootstrap_archive_holds_the_workspace_and_a_private_script() -> None:
    with tarfile.open(fileobj=io.BytesIO(bootstrap_archive(JOB, NONCE))) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert sorted(members) == [".xxci", ".xxci/run.sh", "workspace"]
        assert members["workspace"].isdir() and members["workspace"].mode == 0o755
        assert members[".xxci"].isdir() and members[".xxci"].mode == 0o700
        script = members[".xxci/run.sh"]
        assert script.isreg() and script.mode == 0o600
        data = tar.extractfile(script)
        assert data is not None
        assert data.read().decode() == render_wrapper(JOB.script, NONCE)
