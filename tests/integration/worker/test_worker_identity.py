"""A worker's own credential: registered once with the shared token, kept in its work
dir (mode 0600), presented on every later call, and a refusal of it is fatal."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from tests.fakes.executor import FakeExecutor, FakeJob, FakeStep
from tests.fakes.orchestrator import FakeServer, eventually
from tests.integration.worker.conftest import AgentFactory
from xxci.common.credentials import WorkerCredential
from xxci.common.errors import AuthError, UsageError
from xxci.common.pb.v1 import worker_pb2

pytestmark = pytest.mark.timeout(15)


@pytest.fixture
async def guarded() -> AsyncIterator[FakeServer]:
    """A fake orchestrator that wants the token ``t``."""
    srv = FakeServer(token="t")
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


async def test_a_worker_registers_once_and_connects_with_its_own_credential(
    guarded: FakeServer, agent_for: AgentFactory, tmp_path: Path
) -> None:
    registered: list[tuple[str, Path]] = []
    agent = agent_for(guarded, token="t", name="box", on_registered=lambda *a: registered.append(a))
    await eventually(lambda: guarded.workers.current, what="a connection")

    ((name, credential),) = guarded.workers.registered
    path = tmp_path / "work" / "worker-credential"
    assert name == "box"
    assert registered == [(credential.worker_id, path)]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "server": guarded.target,
        "worker_id": credential.worker_id,
        "credential": credential.bearer,
    }
    connection = guarded.workers.connections[0]
    assert connection.bearer == credential.bearer, "the stream must carry the credential"
    assert connection.hello.worker_id == agent.worker_id == credential.worker_id


async def test_a_restarted_worker_keeps_its_identity_and_register_replaces_it(
    guarded: FakeServer, agent_for: AgentFactory, tmp_path: Path
) -> None:
    first = agent_for(guarded, token="t")
    await eventually(lambda: guarded.workers.current, what="the first connection")
    await first.stop(drain=True)
    ((_, credential),) = guarded.workers.registered

    # Started again on the same work dir: no registration, the same credential.
    again = agent_for(guarded, token="t")
    await eventually(lambda: len(guarded.workers.connections) == 2, what="a second connection")
    await again.stop(drain=True)
    assert len(guarded.workers.registered) == 1
    assert guarded.workers.connections[1].bearer == credential.bearer

    # --register asks for a new identity and saves it over the old one.
    anew = agent_for(guarded, token="t", register=True)
    await eventually(lambda: len(guarded.workers.connections) == 3, what="a third connection")
    await anew.stop(drain=True)
    (_, old), (_, new) = guarded.workers.registered
    assert old == credential and new != credential
    assert guarded.workers.connections[2].bearer == new.bearer
    saved = json.loads((tmp_path / "work" / "worker-credential").read_text())
    assert saved["credential"] == new.bearer


async def test_blob_calls_carry_the_credential_too(
    guarded: FakeServer, agent_for: AgentFactory, executor: FakeExecutor
) -> None:
    source = guarded.blobs.put(b"a source tree")
    executor.jobs["build"] = FakeJob(steps=[FakeStep([("stdout", b"ok\n")])])
    agent_for(guarded, token="t")
    assign = worker_pb2.AssignJob(
        ref=worker_pb2.AttemptRef(run_id="r1", job="build", attempt=1),
        image="busybox",
        script=["true"],
        source_blob=source,
    )
    await guarded.workers.send(worker_pb2.OrchestratorMessage(assign=assign))
    done = await eventually(lambda: guarded.workers.of_kind("job_finished"), what="the result")
    # The fake's interceptor lets blob calls through with a credential it issued only.
    assert done[0].status == worker_pb2.JOB_RESULT_SUCCESS, done[0].message


async def test_a_refused_credential_ends_the_worker_with_the_reason(
    guarded: FakeServer, agent_for: AgentFactory
) -> None:
    refusal = "worker w-1 was revoked: register it again (xxci worker --register)"
    guarded.workers.refuse = (grpc.StatusCode.UNAUTHENTICATED, refusal)
    agent = agent_for(guarded, token="t")
    with pytest.raises(AuthError) as raised:
        async with asyncio.timeout(5):
            await agent.run_task  # type: ignore[attr-defined]
    assert (
        str(raised.value) == f"the orchestrator at {guarded.target} refused this worker: {refusal}"
    )
    assert len(guarded.workers.connections) == 1, "a refused worker must not retry"


@pytest.mark.parametrize(
    ("content", "mode", "message"),
    [
        (
            json.dumps({"credential": "xxci-worker.w-1." + "s" * 43}),
            0o644,
            "the worker credential {path} may be read by others (mode 0644): chmod 600 it,"
            " or pass --register to replace it",
        ),
        (
            "not json",
            0o600,
            "{path} does not hold a worker credential: remove it, or pass --register",
        ),
        (
            json.dumps({"credential": "s3cret"}),
            0o600,
            "{path} does not hold a worker credential: remove it, or pass --register",
        ),
    ],
)
async def test_a_credential_file_that_cannot_be_trusted_is_refused(
    guarded: FakeServer,
    agent_for: AgentFactory,
    tmp_path: Path,
    content: str,
    mode: int,
    message: str,
) -> None:
    path = tmp_path / "work" / "worker-credential"
    path.parent.mkdir()
    path.write_text(content)
    os.chmod(path, mode)
    agent = agent_for(guarded, token="t")
    with pytest.raises(UsageError) as raised:
        async with asyncio.timeout(5):
            await agent.run_task  # type: ignore[attr-defined]
    assert str(raised.value) == message.format(path=path)
    assert guarded.workers.registered == [] and guarded.workers.connections == []


def test_a_credential_never_shows_its_secret() -> None:
    credential = WorkerCredential.issue("ab12")
    assert credential.secret not in str(credential)
    assert credential.secret not in repr(credential)
    assert credential.bearer == f"xxci-worker.ab12.{credential.secret}"
    assert WorkerCredential.parse(credential.bearer) == credential
    assert WorkerCredential.parse("s3cret") is None
    assert WorkerCredential.parse("xxci-worker.ab12.short") is None


async def test_two_workers_cannot_share_one_credential(
    guarded: FakeServer, agent_for: AgentFactory, tmp_path: Path
) -> None:
    agent_for(guarded, token="t")
    await eventually(lambda: guarded.workers.current, what="the first worker")
    second = agent_for(guarded, token="t")
    with pytest.raises(UsageError) as raised:
        async with asyncio.timeout(5):
            await second.run_task  # type: ignore[attr-defined]
    path = tmp_path / "work" / "worker-credential"
    assert str(raised.value) == (
        f"another worker (pid {os.getpid()}) uses the credential {path}:"
        " give each worker its own --work-dir"
    )
    assert len(guarded.workers.connections) == 1
