"""``xxci worker`` through the asyncclick runner: real exit codes, real output, signals."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
from pathlib import Path

import grpc
import pytest
from asyncclick.testing import CliRunner, Result

from tests.fakes.executor import FakeExecutor, FakeJob, FakeStep
from tests.fakes.orchestrator import FakeServer, eventually
from xxci.cli.commands import worker as worker_cmd
from xxci.cli.main import cli
from xxci.common.pb.v1 import worker_pb2

pytestmark = pytest.mark.timeout(15)


@pytest.fixture
def fake_executor(monkeypatch: pytest.MonkeyPatch) -> FakeExecutor:
    executor = FakeExecutor()
    monkeypatch.setattr(worker_cmd, "_make_executor", lambda work_dir, default_image=None: executor)
    return executor


def work_dirs() -> set[Path]:
    """The folders workers without ``--work-dir`` made for themselves."""
    return set(Path(tempfile.gettempdir()).glob("xxci-worker-*"))


def start(args: list[str], env: dict[str, str | None] | None = None) -> asyncio.Task[Result]:
    return asyncio.create_task(CliRunner().invoke(cli, args, env=env, catch_exceptions=False))


async def test_registers_connects_prints_a_line_each_and_drains_on_sigterm(
    server: FakeServer, fake_executor: FakeExecutor, tmp_path: Path
) -> None:
    task = start(
        [
            "worker",
            "--name",
            "box",
            "--capacity",
            "3",
            "--label",
            "a",
            "--label",
            "b",
            "--work-dir",
            str(tmp_path / "w"),
        ],
        env={"XXCI_SERVER": server.target, "XXCI_TOKEN": None},
    )
    hellos = await eventually(lambda: server.workers.of_kind("hello"), what="Hello")
    assert (hellos[0].name, hellos[0].capacity, list(hellos[0].labels)) == ("box", 3, ["a", "b"])
    os.kill(os.getpid(), signal.SIGTERM)
    async with asyncio.timeout(5):
        result = await task
    assert result.exit_code == 0, result.output
    credential = tmp_path / "w" / "worker-credential"
    assert result.stdout == (
        f"worker 'box' registered with {server.target} as w-1 (credential in {credential})\n"
        f"worker 'box' connected to {server.target} as w-1 (capacity 3)\n"
    )
    assert server.workers.of_kind("draining")


async def test_second_signal_cancels_running_jobs(
    server: FakeServer, fake_executor: FakeExecutor
) -> None:
    fake_executor.jobs["slow"] = FakeJob(steps=[FakeStep(gate=asyncio.Event())])
    before = work_dirs()
    task = start(["worker", "--server", server.target])
    await eventually(lambda: server.workers.current, what="connection")
    (made,) = work_dirs() - before
    assign = worker_pb2.AssignJob(
        ref=worker_pb2.AttemptRef(run_id="r", job="slow", attempt=1), image="i", script=["x"]
    )
    await server.workers.send(worker_pb2.OrchestratorMessage(assign=assign))
    await eventually(lambda: "slow" in fake_executor.runs, what="job start")
    os.kill(os.getpid(), signal.SIGINT)
    await eventually(lambda: server.workers.of_kind("draining"), what="Draining")
    assert not fake_executor.runs["slow"].cancel.is_set()
    os.kill(os.getpid(), signal.SIGINT)
    async with asyncio.timeout(5):
        result = await task
    assert result.exit_code == 0, result.output
    assert fake_executor.runs["slow"].cancel.is_set()
    finished = server.workers.of_kind("job_finished")
    assert [f.status for f in finished] == [worker_pb2.JOB_RESULT_CANCELED]
    assert "interrupt again to cancel" in result.stderr
    assert not made.exists(), "the worker left its temporary work folder"


async def test_wrong_token_is_one_line_and_exit_code_1(fake_executor: FakeExecutor) -> None:
    srv = FakeServer(token="right")
    await srv.start()
    before = work_dirs()
    try:
        async with asyncio.timeout(5):
            result = await start(["worker", "--server", srv.target, "--token", "nope"])
    finally:
        await srv.stop()
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: the orchestrator at {srv.target} refused the token: missing or invalid token"
    )
    assert "Traceback" not in result.stderr
    assert work_dirs() == before


async def test_server_is_required() -> None:
    result = await CliRunner().invoke(cli, ["worker"], env={"XXCI_SERVER": None})
    assert result.exit_code == 2
    assert "--server" in result.stderr


async def test_a_revoked_worker_stops_with_one_line_and_exit_code_1(
    server: FakeServer, fake_executor: FakeExecutor, tmp_path: Path
) -> None:
    refusal = "worker w-1 was revoked: register it again (xxci worker --register)"
    server.workers.refuse = (grpc.StatusCode.UNAUTHENTICATED, refusal)
    async with asyncio.timeout(5):
        result = await start(["worker", "--server", server.target, "--work-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: the orchestrator at {server.target} refused this worker: {refusal}"
    )
    assert "Traceback" not in result.stderr
