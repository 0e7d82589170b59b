"""WorkerAgent against a real grpc.aio server running a scripted fake orchestrator."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import xxci
from tests.fakes.executor import FakeExecutor, FakeJob, FakeStep
from tests.fakes.orchestrator import FakeServer, digest_of, eventually
from xxci.common.convert import log_stream_from_pb
from xxci.common.credentials import WorkerCredential
from xxci.common.errors import AuthError
from xxci.common.pb.v1 import types_pb2, worker_pb2
from xxci.worker.connection.agent import WorkerAgent
from xxci.worker.connection.credential_file import save_credential

AgentFactory = Callable[..., WorkerAgent]

pytestmark = pytest.mark.timeout(15)


def ref(job: str, attempt: int = 1, run_id: str = "r1") -> worker_pb2.AttemptRef:
    return worker_pb2.AttemptRef(run_id=run_id, job=job, attempt=attempt)


def assign(job: str, **fields: Any) -> worker_pb2.OrchestratorMessage:
    msg = worker_pb2.AssignJob(
        ref=ref(job), stage="test", image="busybox", script=["true"], **fields
    )
    return worker_pb2.OrchestratorMessage(assign=msg)


def cancel(job: str, grace: float = 1.0) -> worker_pb2.OrchestratorMessage:
    return worker_pb2.OrchestratorMessage(
        cancel=worker_pb2.CancelJob(ref=ref(job), grace_seconds=grace, reason="user")
    )


def finished(server: FakeServer, job: str) -> list[worker_pb2.JobFinished]:
    return [p for kind, p in server.workers.for_job(job) if kind == "job_finished"]


def log_text(server: FakeServer, job: str) -> bytes:
    chunks = {p.seq: p.data for kind, p in server.workers.for_job(job) if kind == "log_chunk"}
    return b"".join(chunks[seq] for seq in sorted(chunks))


async def test_hello_welcome_and_heartbeats(server: FakeServer, agent_for: AgentFactory) -> None:
    ids: list[str] = []
    agent = agent_for(server, name="alpha", capacity=3, labels=["linux", "big"])
    agent._on_connected = ids.append  # the CLI passes this through the constructor
    hellos = await eventually(lambda: server.workers.of_kind("hello"), what="Hello")
    assert hellos[0].name == "alpha"
    assert hellos[0].capacity == 3
    assert list(hellos[0].labels) == ["linux", "big"]
    assert hellos[0].version == xxci.__version__
    assert list(hellos[0].running) == []
    await eventually(lambda: len(server.workers.of_kind("heartbeat")) >= 2, what="heartbeats")
    assert agent.worker_id == "w-1"
    assert ids == ["w-1"]


async def test_job_runs_and_reports_in_order(
    server: FakeServer, agent_for: AgentFactory, executor: FakeExecutor, tmp_path: Path
) -> None:
    source = b"source tree tar" * 500
    earlier = b"artifacts of an earlier job"
    executor.jobs["build"] = FakeJob(
        steps=[
            FakeStep([("stdout", b"compiling\n"), ("stderr", b"warning: x\n")]),
            FakeStep([("stdout", b"line %d\n" % i) for i in range(200)], exit_code=0),
        ],
        artifacts=b"the artifacts tar",
    )
    agent_for(server)
    await server.workers.send(
        assign(
            "build",
            source_blob=server.blobs.put(source),
            artifact_blobs=[server.blobs.put(earlier)],
            artifact_paths=["out/"],
            artifact_when=worker_pb2.ARTIFACT_WHEN_ALWAYS,
            variables={"A": "1"},
            timeout_seconds=60,
        )
    )
    done = await eventually(lambda: finished(server, "build"), what="JobFinished")
    assert done[0].status == worker_pb2.JOB_RESULT_SUCCESS
    assert done[0].exit_code == 0
    assert done[0].artifacts_blob == digest_of(b"the artifacts tar")
    assert server.blobs.blobs[done[0].artifacts_blob] == b"the artifacts tar"

    kinds = [kind for kind, _ in server.workers.for_job("build")]
    assert kinds[:2] == ["accept", "job_started"]
    assert kinds[-1] == "job_finished"
    steps = [(i, kind) for i, kind in enumerate(kinds) if kind == "step_finished"]
    assert len(steps) == 2
    # the first step's output comes before its StepFinished, the second's after it
    first_step_logs = [k for k in kinds[: steps[0][0]] if k == "log_chunk"]
    assert first_step_logs

    seqs = [p.seq for kind, p in server.workers.for_job("build") if kind == "log_chunk"]
    assert seqs == list(range(1, len(seqs) + 1))
    # 200 lines arrive coalesced, not one message per line
    assert len(seqs) < 20
    expected = b"compiling\nwarning: x\n" + b"".join(b"line %d\n" % i for i in range(200))
    assert log_text(server, "build") == expected
    streams = [
        log_stream_from_pb(p.stream)
        for kind, p in server.workers.for_job("build")
        if kind == "log_chunk"
    ]
    assert streams[:2] == ["stdout", "stderr"]

    run = executor.run_of("build")
    assert run.source == source
    assert run.artifacts == [earlier]
    assert run.assignment.variables == {"A": "1"}
    assert run.assignment.timeout_seconds == 60
    assert run.assignment.artifact_paths == ("out/",)
    # the attempt directory is cleaned up afterwards; the blobs it fetched stay, by
    # digest, for the next attempts
    work = tmp_path / "work"
    left = ["blobs", "worker-credential", "worker-credential.lock"]
    await eventually(lambda: sorted(p.name for p in work.iterdir()) == left, what="cleanup")
    kept = sorted(p.read_bytes() for p in (work / "blobs").iterdir())
    assert kept == sorted([source, earlier])


async def test_failing_step_reports_exit_code(
    server: FakeServer, agent_for: AgentFactory, executor: FakeExecutor
) -> None:
    executor.jobs["lint"] = FakeJob(steps=[FakeStep([("stdout", b"bad\n")], exit_code=3)])
    agent_for(server)
    await server.workers.send(assign("lint"))
    done = await eventually(lambda: finished(server, "lint"))
    assert (done[0].status, done[0].exit_code, done[0].failure_reason) == (
        worker_pb2.JOB_RESULT_FAILED,
        3,
        worker_pb2.FAILURE_REASON_SCRIPT_FAILURE,
    )
    steps = [p for kind, p in server.workers.for_job("lint") if kind == "step_finished"]
    assert [(s.index, s.exit_code) for s in steps] == [(0, 3)]


async def test_missing_source_blob_is_a_system_failure(
    server: FakeServer, agent_for: AgentFactory, executor: FakeExecutor
) -> None:
    agent_for(server)
    await server.workers.send(assign("x", source_blob=digest_of(b"nowhere")))
    done = await eventually(lambda: finished(server, "x"))
    assert done[0].status == worker_pb2.JOB_RESULT_FAILED
    assert done[0].failure_reason == worker_pb2.FAILURE_REASON_SYSTEM_FAILURE
    assert "cannot fetch the workspace" in done[0].message
    assert "x" not in executor.runs


async def test_corrupt_blob_is_refused(
    server: FakeServer, agent_for: AgentFactory, executor: FakeExecutor
) -> None:
    digest = server.blobs.put(b"precious source")
    server.blobs.corrupt.add(digest)
    agent_for(server)
    await server.workers.send(assign("x", source_blob=digest))
    done = await eventually(lambda: finished(server, "x"))
    assert done[0].failure_reason == worker_pb2.FAILURE_REASON_SYSTEM_FAILURE
    assert "different bytes" in done[0].message
    assert "x" not in executor.runs


async def test_invalid_assignment_is_rejected(server: FakeServer, agent_for: AgentFactory) -> None:
    agent_for(server)
    await server.workers.send(assign("x", artifact_when=9))
    rejects = await eventually(lambda: server.workers.of_kind("reject"))
    assert "artifact_when" in rejects[0].reason


async def test_capacity_is_respected(
    server: FakeServer, agent_for: AgentFactory, executor: FakeExecutor
) -> None:
    gate = asyncio.Event()
    executor.jobs["slow"] = FakeJob(steps=[FakeStep(gate=gate)])
    agent_for(server, capacity=1)
    await server.workers.send(assign("slow"))
    await eventually(lambda: "slow" in executor.runs and executor.runs["slow"].started.is_set())
    await server.workers.send(assign("next"))
    rejects = await eventually(lambda: server.workers.of_kind("reject"))
    assert rejects[0].ref.job == "next"
    assert "capacity" in rejects[0].reason
    # the busy attempt is reported as running in heartbeats
    await eventually(
        lambda: any(
            [r.job for r in hb.running] == ["slow"] for hb in server.workers.of_kind("heartbeat")
        ),
        what="a heartbeat naming the running attempt",
    )
    gate.set()
    await eventually(lambda: finished(server, "slow"))
    # with the slot free again, the next assignment is accepted
    await server.workers.send(assign("next"))
    await eventually(lambda: finished(server, "next"))
    assert [k for k, _ in server.workers.for_job("next")][-2:] == ["step_finished", "job_finished"]


async def test_cancel_reaches_the_executor(
    server: FakeServer, agent_for: AgentFactory, executor: FakeExecutor
) -> None:
    executor.jobs["long"] = FakeJob(steps=[FakeStep(gate=asyncio.Event())])
    agent_for(server)
    await server.workers.send(assign("long"))
    await eventually(lambda: "long" in executor.runs and executor.runs["long"].started.is_set())
    await server.workers.send(cancel("long", grace=2.5))
    done = await eventually(lambda: finished(server, "long"))
    assert executor.runs["long"].cancel.is_set()
    assert (done[0].status, done[0].failure_reason) == (
        worker_pb2.JOB_RESULT_CANCELED,
        worker_pb2.FAILURE_REASON_CANCELED,
    )


async def test_reconnect_keeps_the_job_and_delivers_its_results(
    server: FakeServer, agent_for: AgentFactory, executor: FakeExecutor
) -> None:
    gate = asyncio.Event()
    executor.jobs["build"] = FakeJob(
        steps=[
            FakeStep([("stdout", b"before\n")]),
            FakeStep([("stdout", b"during the outage\n")], gate=gate, exit_code=0),
        ]
    )
    agent = agent_for(server)
    await server.workers.send(assign("build"))
    await eventually(lambda: b"before\n" in log_text(server, "build"), what="first output")

    await server.stop()
    await eventually(lambda: server.workers.current is None, what="disconnect")
    gate.set()  # the job finishes while the orchestrator is away
    await eventually(lambda: executor.runs["build"].result is not None, what="job end")
    await server.start()  # same port

    await eventually(lambda: len(server.workers.connections) >= 2, what="reconnect")
    hello = server.workers.connections[1].hello
    assert [r.job for r in hello.running] == ["build"]
    assert hello.worker_id == agent.worker_id == "w-1"
    done = await eventually(lambda: finished(server, "build"), what="JobFinished after reconnect")
    assert done[0].status == worker_pb2.JOB_RESULT_SUCCESS
    later = [kind for kind, _ in server.workers.for_job("build", connection=2)]
    assert later[-2:] == ["step_finished", "job_finished"]
    assert log_text(server, "build") == b"before\nduring the outage\n"
    assert not executor.runs["build"].cancel.is_set()


async def test_job_keeps_running_across_a_disconnect(
    server: FakeServer, agent_for: AgentFactory, executor: FakeExecutor
) -> None:
    gate = asyncio.Event()
    executor.jobs["build"] = FakeJob(steps=[FakeStep([("stdout", b"done\n")], gate=gate)])
    agent_for(server)
    await server.workers.send(assign("build"))
    await eventually(lambda: executor.runs.get("build") and executor.runs["build"].started.is_set())
    await server.stop()
    await server.start()
    await eventually(lambda: len(server.workers.connections) >= 2, what="reconnect")
    assert [r.job for r in server.workers.connections[1].hello.running] == ["build"]
    gate.set()
    done = await eventually(
        lambda: finished(
            server,
            "build",
        )
    )
    assert done[0].status == worker_pb2.JOB_RESULT_SUCCESS
    assert server.workers.for_job("build")[-1][0] == "job_finished"


async def test_unacked_job_finished_is_sent_again_after_a_reconnect(
    server: FakeServer, agent_for: AgentFactory
) -> None:
    server.workers.acking = False
    agent_for(server, flush_timeout=0.2)  # at the end, stop soon without the acks
    await server.workers.send(assign("quick"))
    await eventually(lambda: finished(server, "quick"))
    await server.stop()
    await server.start()
    await eventually(lambda: len(finished(server, "quick")) == 2, what="resent JobFinished")
    assert [r.job for r in server.workers.connections[1].hello.running] == []


async def test_acked_job_finished_is_not_sent_again(
    server: FakeServer, agent_for: AgentFactory
) -> None:
    agent = agent_for(server)
    await server.workers.send(assign("quick"))
    await eventually(lambda: finished(server, "quick"))
    await eventually(lambda: agent._outboxes.delivered(), what="the acks processed")
    await server.stop()
    await server.start()
    await eventually(lambda: len(server.workers.connections) >= 2)
    await eventually(lambda: len(server.workers.of_kind("heartbeat", connection=2)) >= 2)
    assert len(finished(server, "quick")) == 1
    assert server.workers.numbered("quick", connection=2) == []


def seqs(messages: list[worker_pb2.WorkerMessage]) -> list[int]:
    return [m.seq for m in messages]


async def test_every_unacked_message_is_sent_again_in_order_until_acked(
    server: FakeServer, agent_for: AgentFactory, executor: FakeExecutor
) -> None:
    gate = asyncio.Event()
    executor.jobs["build"] = FakeJob(
        steps=[
            FakeStep([("stdout", b"one\n")]),
            FakeStep([("stdout", b"two\n")], gate=gate, exit_code=3),
        ]
    )
    server.workers.acking = False
    agent = agent_for(server)
    await server.workers.send(assign("build"))
    await eventually(lambda: server.workers.of_kind("step_finished"), what="the first StepFinished")
    first = server.workers.numbered("build", connection=1)
    assert [m.WhichOneof("kind") for m in first] == [
        "accept",
        "job_started",
        "log_chunk",
        "step_finished",
    ]
    assert seqs(first) == [1, 2, 3, 4]
    # The orchestrator handled Accept and JobStarted only. An assignment sent after
    # the Ack is accepted once the worker has read the Ack.
    await server.workers.ack(ref("build"), 2)
    await server.workers.send(assign("probe"))
    await eventually(lambda: server.workers.numbered("probe"), what="the probe accepted")

    # The stream drops: everything not acked comes again, in order, unchanged.
    await server.stop()
    await server.start()
    await eventually(lambda: len(server.workers.connections) >= 2, what="a reconnect")
    gate.set()
    await eventually(lambda: finished(server, "build"), what="JobFinished")
    second = server.workers.numbered("build", connection=2)
    assert second[:2] == first[2:]
    assert [m.WhichOneof("kind") for m in second[2:]] == [
        "log_chunk",
        "step_finished",
        "job_finished",
    ]
    assert seqs(second) == [3, 4, 5, 6, 7]

    # Still not acked: all of it again on the next stream, and nothing else.
    await server.stop()
    await server.start()
    await eventually(
        lambda: len(server.workers.numbered("build", connection=3)) == 5,
        what="the second resend",
    )
    assert server.workers.numbered("build", connection=3) == second

    # Acked at last: forgotten, never sent again.
    await server.workers.ack(ref("build"), 7)
    await server.workers.send(assign("probe2"))
    await eventually(lambda: server.workers.numbered("probe2"), what="the probe accepted")
    await server.stop()
    server.workers.acking = True
    await server.start()
    await eventually(lambda: len(server.workers.connections) >= 4, what="a reconnect")
    await eventually(lambda: len(server.workers.of_kind("heartbeat", connection=4)) >= 2)
    assert server.workers.numbered("build", connection=4) == []
    await eventually(agent._outboxes.delivered, what="the probes' messages acked")
    steps = [m.step_finished for m in server.workers.numbered("build") if m.seq in (4, 6)]
    assert {(s.index, s.exit_code) for s in steps} == {(0, 0), (1, 3)}


async def test_wrong_token_is_fatal(agent_for: AgentFactory) -> None:
    srv = FakeServer(token="right")
    await srv.start()
    try:
        agent = agent_for(srv, token="wrong")
        with pytest.raises(AuthError, match="missing or invalid token"):
            async with asyncio.timeout(5):
                await agent.run_task  # type: ignore[attr-defined]
        agent = agent_for(srv, token=None)
        with pytest.raises(AuthError):
            async with asyncio.timeout(5):
                await agent.run_task  # type: ignore[attr-defined]
        agent = agent_for(srv, token="right")
        await eventually(lambda: srv.workers.of_kind("hello"))
    finally:
        await srv.stop()


async def test_unreachable_orchestrator_is_retried(
    agent_for: AgentFactory, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG, logger="xxci.worker")
    srv = FakeServer()
    await srv.start()
    await srv.stop()  # keep the port, but nobody listens
    # Registered before: it only has to connect.
    save_credential(
        tmp_path / "work" / "worker-credential", WorkerCredential.issue("w-1"), srv.target
    )
    agent_for(srv)

    def retries(level: int) -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.levelno == level and "reconnecting" in r.getMessage()
        ]

    await eventually(lambda: len(retries(logging.DEBUG)) >= 3, what="retries")
    # Why, said once (until it changes, or as a reminder half a minute later).
    [warning] = retries(logging.WARNING)
    assert warning.startswith(f"cannot connect to {srv.target}: connection refused; reconnecting")
    await srv.start()
    await eventually(lambda: srv.workers.of_kind("hello"), what="connect once it is back")
    await srv.stop()


async def test_registering_with_an_unreachable_orchestrator_is_retried(
    agent_for: AgentFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="xxci.worker")
    srv = FakeServer()
    await srv.start()
    await srv.stop()
    agent_for(srv)

    def retries(level: int) -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.levelno == level and "registering again" in r.getMessage()
        ]

    await eventually(lambda: len(retries(logging.DEBUG)) >= 3, what="retries")
    [warning] = retries(logging.WARNING)
    assert warning.startswith(
        f"cannot reach the orchestrator at {srv.target}: connection refused; registering again"
    )
    await srv.start()
    await eventually(lambda: srv.workers.registered, what="registered once it is back")
    await eventually(lambda: srv.workers.of_kind("hello"), what="then connected")
    await srv.stop()


async def test_drain_finishes_running_jobs_then_closes(
    server: FakeServer, agent_for: AgentFactory, executor: FakeExecutor
) -> None:
    gate = asyncio.Event()
    executor.jobs["slow"] = FakeJob(steps=[FakeStep([("stdout", b"bye\n")], gate=gate)])
    agent = agent_for(server)
    await server.workers.send(assign("slow"))
    await eventually(lambda: executor.runs.get("slow") and executor.runs["slow"].started.is_set())
    stopper = asyncio.create_task(agent.stop(drain=True))
    await eventually(lambda: server.workers.of_kind("draining"), what="Draining")
    await server.workers.send(assign("late"))
    rejects = await eventually(lambda: server.workers.of_kind("reject"))
    assert rejects[0].reason == "worker is draining"
    assert not stopper.done()
    gate.set()
    async with asyncio.timeout(5):
        await stopper
    assert agent.run_task.done()  # type: ignore[attr-defined]
    done = finished(server, "slow")
    assert done[0].status == worker_pb2.JOB_RESULT_SUCCESS
    assert not executor.runs["slow"].cancel.is_set()
    await agent.stop(drain=True)  # idempotent
    await agent.stop(drain=False)


async def test_hard_stop_cancels_running_jobs(
    server: FakeServer, agent_for: AgentFactory, executor: FakeExecutor
) -> None:
    executor.jobs["slow"] = FakeJob(steps=[FakeStep(gate=asyncio.Event())])
    agent = agent_for(server)
    await server.workers.send(assign("slow"))
    await eventually(lambda: executor.runs.get("slow") and executor.runs["slow"].started.is_set())
    async with asyncio.timeout(5):
        await agent.stop(drain=False)
    assert executor.runs["slow"].cancel.is_set()
    assert finished(server, "slow")[0].status == worker_pb2.JOB_RESULT_CANCELED


async def test_stop_before_run_returns_at_once(agent_for: AgentFactory) -> None:
    srv = FakeServer()
    agent = agent_for(srv)
    agent.request_stop()
    async with asyncio.timeout(5):
        await agent.run_task  # type: ignore[attr-defined]


async def test_output_beyond_the_bound_while_offline_keeps_the_latest(
    server: FakeServer, agent_for: AgentFactory, executor: FakeExecutor
) -> None:
    gate = asyncio.Event()
    lines = [("stdout", b"%09d\n" % i) for i in range(40_000)]  # 400 000 bytes
    executor.jobs["chatty"] = FakeJob(
        steps=[FakeStep([("stdout", b"start\n")]), FakeStep(lines, gate=gate)]
    )
    agent_for(server, max_log_bytes=128 * 1024)  # two 64 KiB chunks
    await server.workers.send(assign("chatty"))
    await eventually(lambda: b"start\n" in log_text(server, "chatty"))
    await server.stop()
    await eventually(lambda: server.workers.current is None, what="disconnect")
    gate.set()
    await eventually(lambda: executor.runs["chatty"].result is not None, what="job end")
    await server.start()
    done = await eventually(lambda: finished(server, "chatty"), what="JobFinished")
    assert done[0].status == worker_pb2.JOB_RESULT_SUCCESS
    chunks = [p for kind, p in server.workers.for_job("chatty") if kind == "log_chunk"]
    # A chunk the server took but had not acknowledged when it stopped comes again,
    # the same bytes under the same seq (the log store keeps it once); new output
    # arrives in order.
    sent: dict[int, bytes] = {}
    for chunk in chunks:
        assert sent.setdefault(chunk.seq, chunk.data) == chunk.data
    assert list(sent) == sorted(sent)
    markers = [c for c in chunks if c.stream == types_pb2.LOG_STREAM_SYSTEM]
    markers = list({c.seq: c for c in markers}.values())
    assert len(markers) == 1 and b"dropped here" in markers[0].data
    text = log_text(server, "chatty")
    assert text.startswith(b"start\n")
    assert text.endswith(b"000039999\n")  # the newest output survived
    assert 128 * 1024 - 64 * 1024 < len(text) < 128 * 1024 + 1024


async def test_executor_crash_fails_the_job_but_not_the_worker(
    server: FakeServer, agent_for: AgentFactory, executor: FakeExecutor
) -> None:
    executor.jobs["bad"] = FakeJob(raise_error=RuntimeError("docker went away"))
    agent_for(server)
    await server.workers.send(assign("bad"))
    done = await eventually(lambda: finished(server, "bad"))
    assert (done[0].status, done[0].failure_reason) == (
        worker_pb2.JOB_RESULT_FAILED,
        worker_pb2.FAILURE_REASON_SYSTEM_FAILURE,
    )
    assert "docker went away" in done[0].message
    await server.workers.send(assign("good"))
    assert (await eventually(lambda: finished(server, "good")))[
        0
    ].status == worker_pb2.JOB_RESULT_SUCCESS


async def test_a_bad_blob_name_fails_the_job(server: FakeServer, agent_for: AgentFactory) -> None:
    agent_for(server)
    await server.workers.send(assign("x", artifact_blobs=["md5:nope"]))
    done = await eventually(lambda: finished(server, "x"))
    assert done[0].failure_reason == worker_pb2.FAILURE_REASON_SYSTEM_FAILURE
    assert "not a blob digest" in done[0].message
