"""after_script and the default image, in the real Docker engine."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from xxci.common.archives import pack_directory
from xxci.common.status import FailureReason, JobStatus
from xxci.worker.docker.executor import DockerExecutor
from xxci.worker.executor import Workspace

from .test_docker_executor import Recorder, execute

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


@pytest.mark.parametrize("unpack", [True, False], ids=["unpacked-inside", "copied-in"])
async def test_after_script_runs_after_a_timeout_and_sees_the_workspace(
    docker_image: str, tmp_path: Path, unpack: bool
) -> None:
    """The container started again for the after_script keeps the workspace as the
    job left it (it is not unpacked again) and says nothing of its own."""
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "mark").write_text("from the source\n")
    source = pack_directory(tmp_path / "repo", tmp_path / "source.tar.gz")
    result, rec = await execute(
        docker_image,
        ["echo left > mark", "echo start; sleep 30"],
        after_script=("echo after $CI_JOB_STATUS; cat mark",),
        timeout_seconds=1,
        workspace=Workspace(source=source),
        executor=DockerExecutor(unpack_in_container=unpack),
    )
    assert result.status is JobStatus.FAILED
    assert result.failure_reason is FailureReason.TIMEOUT
    assert result.message == "job exceeded its timeout of 1s"
    assert rec.transcript() == [
        ("system", "$ echo left > mark\n$ echo start; sleep 30\n"),
        ("stdout", "start\n"),
        (
            "system",
            "job exceeded its timeout of 1s\n"
            "Running after_script\n$ echo after $CI_JOB_STATUS; cat mark\n",
        ),
        ("stdout", "after failed\nleft\n"),
    ]
    assert rec.steps == [(0, 0), (2, 0)]


async def test_after_script_runs_after_a_cancel_with_its_own_time_bound(
    docker_image: str,
) -> None:
    cancel = asyncio.Event()

    def ready(rec: Recorder) -> None:
        if "ready" in rec.text("stdout"):
            cancel.set()

    result, rec = await execute(
        docker_image,
        ["echo ready; sleep 30"],
        after_script=("echo after $CI_JOB_STATUS", "sleep 30", "echo never"),
        recorder=Recorder(on_output=ready),
        cancel=cancel,
        grace=1,
        executor=DockerExecutor(after_script_limit=1),
    )
    assert result.status is JobStatus.CANCELED
    assert rec.text("stdout") == "ready\nafter canceled\n"
    assert rec.text("system").endswith(
        "Running after_script\n$ echo after $CI_JOB_STATUS\n$ sleep 30\n"
        "after_script exceeded its time limit of 1s: killing it (SIGKILL)\n"
    )
    assert rec.steps == [(1, 0)]


async def test_a_cancel_during_the_after_script_does_not_run_it_twice(docker_image: str) -> None:
    cancel = asyncio.Event()

    def ready(rec: Recorder) -> None:
        if "in after" in rec.text("stdout"):
            cancel.set()

    result, rec = await execute(
        docker_image,
        ["echo main"],
        after_script=("echo in after; sleep 30",),
        recorder=Recorder(on_output=ready),
        cancel=cancel,
        grace=1,
    )
    assert result.status is JobStatus.CANCELED
    assert rec.text("stdout") == "main\nin after\n"
    assert rec.text("system").count("Running after_script") == 1
