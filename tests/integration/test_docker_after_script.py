"""after_script and the default image, in the real Docker engine."""

from __future__ import annotations

import pytest

from xxci.common.status import FailureReason, JobStatus
from xxci.worker.docker.executor import DockerExecutor

from .test_docker_executor import execute

pytestmark = pytest.mark.docker


async def test_after_script_runs_after_a_success_in_a_shell_of_its_own(docker_image: str) -> None:
    result, rec = await execute(
        docker_image,
        ["export INNER=set", "echo main"],
        after_script=("echo after $CI_JOB_STATUS inner=${INNER:-unset}", "pwd"),
    )
    assert (result.status, result.exit_code) == (JobStatus.SUCCESS, 0)
    assert rec.transcript() == [
        ("system", "$ export INNER=set\n$ echo main\n"),
        ("stdout", "main\n"),
        (
            "system",
            "Running after_script\n$ echo after $CI_JOB_STATUS inner=${INNER:-unset}\n",
        ),
        ("stdout", "after success inner=unset\n"),
        ("system", "$ pwd\n"),
        ("stdout", "/workspace\n"),
    ]
    assert rec.steps == [(0, 0), (1, 0), (2, 0), (3, 0)]


async def test_after_script_runs_after_a_failure_and_its_own_failure_changes_nothing(
    docker_image: str,
) -> None:
    result, rec = await execute(
        docker_image,
        ["echo main", "exit 4", "echo never"],
        after_script=("echo status $CI_JOB_STATUS", "exit 9", "echo not reached"),
    )
    assert (result.status, result.exit_code) == (JobStatus.FAILED, 4)
    assert result.failure_reason is FailureReason.SCRIPT_FAILURE
    assert result.message == "command 2 failed with exit code 4: exit 4"
    assert "status failed\n" in rec.text("stdout")
    assert "not reached" not in rec.text("stdout")
    assert rec.text("system").endswith(
        "$ exit 9\nWARNING: after_script failed, but job will continue unaffected: exit code 9\n"
    )
    assert rec.steps == [(0, 0), (1, 4), (3, 0), (4, 9)]


async def test_a_job_without_an_image_runs_in_the_default_one(docker_image: str) -> None:
    result, rec = await execute("", ["cat /etc/os-release || true", "echo ran"])
    assert result.status is JobStatus.SUCCESS
    assert rec.text("stdout").endswith("ran\n")
    chosen = DockerExecutor(default_image=docker_image)
    result, rec = await execute("", ["echo chosen"], executor=chosen)
    assert (result.status, rec.text("stdout")) == (JobStatus.SUCCESS, "chosen\n")
