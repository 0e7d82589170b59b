"""Scenarios of workers coming and going while the real orchestrator runs their jobs:
short disconnects, lost and silent workers, stale reports, duplicate connections."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import grpc
import pytest

from tests.fakes.executor import FakeJob, FakeStep
from tests.fakes.raw_worker import RawWorker
from tests.integration.orchestrator.conftest import ClusterFactory
from tests.integration.orchestrator.harness import ONE_JOB, Cluster, Entry
from xxci.common.attempts import AttemptKey
from xxci.common.events import WorkerConnected, WorkerDisconnected
from xxci.common.pb.v1 import worker_pb2
from xxci.common.status import FailureReason, JobStatus, RunStatus
from xxci.orchestrator.domain.messages import Ack, Command, Started, StepEnded, WorkerMessage
from xxci.orchestrator.rpc.worker_service import WorkerServicer
from xxci.orchestrator.runtime.sessions import WorkerSession

pytestmark = pytest.mark.timeout(30)

TWO_JOBS = """
pipeline:
  name: scenario
stages: [test]
default:
  image: busybox
jobs:
  - name: a
    stage: test
    script: [run a]
  - name: b
    stage: test
    script: [run b]
"""

DONE_ON_ATTEMPT_1 = [
    Entry("RunCreated", "", 0),
    Entry("StageStarted", "test", 0),
    Entry("JobQueued", "job", 1),
    Entry("JobAssigned", "job", 1),
    Entry("JobStarted", "job", 1),
    Entry("StepFinished", "job", 1),
    Entry("StepFinished", "job", 1),
    Entry("JobFinished", "job", 1),
    Entry("StageFinished", "test", 0),
    Entry("RunFinished", "", 0),
]


def kinds(events: Sequence[object]) -> list[str]:
    return [type(e).__name__ for e in events]


# --- short disconnects: the attempt is kept -------------------------------------------


async def test_a_short_disconnect_keeps_the_running_attempt(cluster: Cluster) -> None:
    worker = await cluster.add_worker("w1")
    run_id = await cluster.submit(ONE_JOB)
    await cluster.wait_held("job")
    await cluster.wait_for_event(run_id, "JobStarted", "job", 1)
    before = cluster.session_of(worker)

    worker.link.cut()
    session = await cluster.wait_until(
        lambda: (s := cluster.session_of(worker)) is not None and s is not before and s,
        what="the worker to reconnect",
    )
    assert AttemptKey(run_id, "job", 1) in session.attempts, "the attempt was not re-adopted"
    assert session.free == 0
    await cluster.release("job")
    state = await cluster.wait_finished(run_id)

    assert state.status is RunStatus.SUCCESS
    assert await cluster.history(run_id) == DONE_ON_ATTEMPT_1
    events = await cluster.worker_events(worker.worker_id)
    assert kinds(events) == [
        "WorkerRegistered",
        "WorkerConnected",
        "WorkerDisconnected",
        "WorkerConnected",
    ]
    assert not worker.canceled("job")


async def test_a_result_made_while_offline_is_delivered_and_applied_once(cluster: Cluster) -> None:
    worker = await cluster.add_worker("w1")
    run_id = await cluster.submit(ONE_JOB)
    await cluster.wait_for_event(run_id, "JobStarted", "job", 1)

    worker.link.block()
    await cluster.wait_until(lambda: cluster.session_of(worker) is None, what="the disconnect")
    await cluster.release("job")  # the job ends while the worker cannot report it
    await cluster.wait_until(lambda: worker.executor.runs["job"].result, what="the job to end")
    assert not (await cluster.state(run_id)).finished
    worker.link.unblock()
    state = await cluster.wait_finished(run_id)

    assert state.status is RunStatus.SUCCESS
    assert await cluster.history(run_id) == DONE_ON_ATTEMPT_1
    assert await cluster.rejected(worker.worker_id) == []


async def test_a_job_finished_sent_twice_is_applied_once(cluster: Cluster) -> None:
    worker = await cluster.add_worker("w1")
    run_id = await cluster.submit(ONE_JOB)
    await cluster.wait_held("job")

    # The orchestrator's Acks never reach the worker, which sends the job's messages
    # again on its next connection: repeats of what the run holds, quietly acked.
    worker.link.hold_replies()
    await cluster.release("job")
    await cluster.wait_finished(run_id)
    await cluster.wait_until(lambda: worker.reported, what="the job's report written")
    assert not worker.acked
    worker.link.cut()
    await cluster.wait_until(lambda: worker.acked, what="the report acked after a reconnect")

    assert await cluster.rejected(worker.worker_id) == []
    assert await cluster.history(run_id) == DONE_ON_ATTEMPT_1
    assert (await cluster.state(run_id)).status is RunStatus.SUCCESS


async def test_messages_sent_again_while_the_job_runs_are_applied_once(
    make_cluster: ClusterFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The orchestrator handles the worker's messages, but its Acks are lost on the way.
    losing_acks = True
    send = WorkerSession.send

    def send_but_lose_acks(session: WorkerSession, command: Command) -> bool:
        if losing_acks and isinstance(command, Ack):
            return True
        return send(session, command)

    handled: list[tuple[str, int]] = []
    handle = WorkerServicer._handle

    async def record_handled(
        servicer: WorkerServicer, seq: int, message: WorkerMessage, session: WorkerSession
    ) -> None:
        if isinstance(message, Started | StepEnded):
            handled.append((message.kind, seq))
        await handle(servicer, seq, message, session)

    monkeypatch.setattr(WorkerSession, "send", send_but_lose_acks)
    monkeypatch.setattr(WorkerServicer, "_handle", record_handled)
    cluster = await make_cluster(hold=False)
    gate = asyncio.Event()
    two_steps = FakeJob(
        steps=[
            FakeStep(output=[("stdout", b"job: make\n")]),
            FakeStep(output=[("stdout", b"job: make check\n")], gate=gate),
        ]
    )
    worker = await cluster.add_worker("w1", jobs={"job": two_steps})
    run_id = await cluster.submit(ONE_JOB)
    await cluster.wait_for_event(run_id, "StepFinished", "job", 1)
    before = cluster.session_of(worker)

    # The stream breaks while the job waits in its second step: the worker sends every
    # message again (JobStarted and the first StepFinished among them), now acked.
    losing_acks = False
    worker.link.cut()
    await cluster.wait_until(
        lambda: (s := cluster.session_of(worker)) is not None and s is not before,
        what="the worker to reconnect",
    )
    await cluster.wait_until(lambda: worker.acked, what="the messages sent again, acked")
    assert handled == [("job_started", 2), ("step_finished", 4)] * 2
    gate.set()
    state = await cluster.wait_finished(run_id)

    assert state.status is RunStatus.SUCCESS
    assert await cluster.history(run_id) == DONE_ON_ATTEMPT_1
    assert dict(state.jobs["job"].steps) == {0: 0, 1: 0}
    assert await cluster.rejected(worker.worker_id) == []
    assert await cluster.log_text(run_id, "job") == "job: make\njob: make check\n"


async def test_a_reconnecting_worker_is_not_offered_the_slot_it_still_uses(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = await cluster.add_worker("w1", capacity=1)
    run_id = await cluster.submit(TWO_JOBS)
    await cluster.wait_held("a")
    await cluster.wait_for_event(run_id, "JobStarted", "a", 1)
    assert (await cluster.state(run_id)).jobs["b"].status is JobStatus.QUEUED

    # Make the dispatch loop run exactly while the reconnect is being recorded.
    store = cluster.orchestrator.store
    append = store.append

    async def append_after_a_dispatch(stream: str, *args: Any, **kwargs: Any) -> Any:
        if stream.startswith("worker:"):
            await cluster.orchestrator.dispatcher.dispatch()
        return await append(stream, *args, **kwargs)

    monkeypatch.setattr(store, "append", append_after_a_dispatch)
    before = cluster.session_of(worker)
    worker.link.cut()
    await cluster.wait_until(
        lambda: (s := cluster.session_of(worker)) is not None and s is not before,
        what="the reconnect",
    )
    await cluster.release("a")
    await cluster.release("b")
    state = await cluster.wait_finished(run_id)

    assert state.status is RunStatus.SUCCESS
    # b waited for a's slot; it was never handed to a worker that had none free.
    assert await cluster.job_history(run_id, "b") == [
        Entry("JobQueued", "b", 1),
        Entry("JobAssigned", "b", 1),
        Entry("JobStarted", "b", 1),
        Entry("StepFinished", "b", 1),
        Entry("JobFinished", "b", 1),
    ]
    assert await cluster.rejected(worker.worker_id) == []


async def test_a_message_in_flight_when_the_stream_breaks_is_kept(cluster: Cluster) -> None:
    worker = await cluster.add_worker("w1")
    run_id = await cluster.submit(ONE_JOB)
    await cluster.wait_for_event(run_id, "JobStarted", "job", 1)
    await cluster.wait_held("job")

    # The job's last messages leave the worker but the stream breaks under them.
    worker.link.hold_requests()
    await cluster.release("job")
    await cluster.wait_until(
        lambda: worker.executor.runs["job"].result and worker.reported,
        what="the worker to write the job's messages",
    )
    worker.link.cut()
    state = await cluster.wait_finished(run_id)

    assert state.status is RunStatus.SUCCESS  # JobFinished is sent again until acked
    assert await cluster.log_text(run_id, "job") == "job: make\njob: make check\n"
    assert dict(state.jobs["job"].steps) == {0: 0, 1: 0}


async def test_a_message_that_cannot_be_handled_ends_the_stream_and_comes_again(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = await cluster.add_worker("w1")
    run_id = await cluster.submit(ONE_JOB)
    await cluster.wait_held("job")
    logs = cluster.orchestrator.logs
    append = logs.append
    failed: list[object] = []

    async def fail_once(*args: Any, **kwargs: Any) -> bool:
        if not failed:
            failed.append(args)
            raise OSError("disk full")
        return await append(*args, **kwargs)

    monkeypatch.setattr(logs, "append", fail_once)
    await cluster.release("job")
    state = await cluster.wait_finished(run_id)

    assert state.status is RunStatus.SUCCESS
    assert failed, "no output was stored"
    # The output is stored once, after the worker sent it again on its next stream.
    assert await cluster.log_text(run_id, "job") == "job: make\njob: make check\n"
    events = await cluster.worker_events(worker.worker_id)
    assert events[2] == WorkerDisconnected(
        worker_id=worker.worker_id, reason="could not handle a log_chunk message: disk full"
    )
    assert kinds(events) == [
        "WorkerRegistered",
        "WorkerConnected",
        "WorkerDisconnected",
        "WorkerConnected",
    ]


# --- lost workers: the attempt runs again ---------------------------------------------


async def test_a_vanished_worker_s_attempt_is_lost_and_runs_again(cluster: Cluster) -> None:
    gone = await cluster.add_worker("w1")
    run_id = await cluster.submit(ONE_JOB)
    await cluster.wait_for_event(run_id, "JobStarted", "job", 1)
    await cluster.wait_held("job", gone)

    await cluster.crash(gone)
    other = await cluster.add_worker("w2")
    await cluster.lapse(gone)
    await cluster.release("job", other)
    state = await cluster.wait_finished(run_id)

    assert state.status is RunStatus.SUCCESS
    assert await cluster.history(run_id) == [
        Entry("RunCreated", "", 0),
        Entry("StageStarted", "test", 0),
        Entry("JobQueued", "job", 1),
        Entry("JobAssigned", "job", 1),
        Entry("JobStarted", "job", 1),
        Entry("JobAttemptLost", "job", 1),
        Entry("JobQueued", "job", 2),
        Entry("JobAssigned", "job", 2),
        Entry("JobStarted", "job", 2),
        Entry("StepFinished", "job", 2),
        Entry("StepFinished", "job", 2),
        Entry("JobFinished", "job", 2),
        Entry("StageFinished", "test", 0),
        Entry("RunFinished", "", 0),
    ]
    job = state.jobs["job"]
    assert job.worker_id == other.worker_id
    lost, second = job.attempts
    assert (lost.number, lost.lost, lost.failure_reason) == (1, True, FailureReason.WORKER_LOST)
    assert lost.worker_id == gone.worker_id
    assert (second.number, second.status) == (2, JobStatus.SUCCESS)
    assert kinds(await cluster.worker_events(gone.worker_id)) == [
        "WorkerRegistered",
        "WorkerConnected",
        "WorkerDisconnected",
    ]


async def test_a_silent_worker_with_an_open_stream_gets_no_more_work(cluster: Cluster) -> None:
    stuck = await cluster.add_worker("w1")
    run_id = await cluster.submit(ONE_JOB)
    await cluster.wait_for_event(run_id, "JobStarted", "job", 1)
    await cluster.wait_held("job", stuck)
    other = await cluster.add_worker("w2")

    # The worker's messages stop arriving (heartbeats too), its connection stays open.
    stuck.link.hold_requests()
    await cluster.lapse(stuck)
    await cluster.wait_held("job", other)
    events = await cluster.worker_events(stuck.worker_id)
    assert events[-1] == WorkerDisconnected(
        worker_id=stuck.worker_id, reason="lease expired: the worker stopped answering"
    )
    # When it answers again, it is told to stop the attempt it lost.
    stuck.link.pass_requests()
    await cluster.wait_until(lambda: stuck.canceled("job"), what="the lost attempt to stop")
    await cluster.release("job", other)
    state = await cluster.wait_finished(run_id)

    assert state.status is RunStatus.SUCCESS
    assert state.jobs["job"].worker_id == other.worker_id
    assert await cluster.history(run_id, without=("JobStarted", "StepFinished")) == [
        Entry("RunCreated", "", 0),
        Entry("StageStarted", "test", 0),
        Entry("JobQueued", "job", 1),
        Entry("JobAssigned", "job", 1),
        Entry("JobAttemptLost", "job", 1),
        Entry("JobQueued", "job", 2),
        Entry("JobAssigned", "job", 2),
        Entry("JobFinished", "job", 2),
        Entry("StageFinished", "test", 0),
        Entry("RunFinished", "", 0),
    ]


async def test_a_late_report_of_a_lost_attempt_is_rejected(cluster: Cluster) -> None:
    old = await cluster.add_worker("w1")
    run_id = await cluster.submit(ONE_JOB)
    await cluster.wait_for_event(run_id, "JobStarted", "job", 1)
    await cluster.wait_held("job", old)
    await cluster.wait_until(lambda: old.acked, what="the JobStarted acked")

    # Cut off longer than the lease: the attempt is lost and runs again elsewhere.
    old.link.block()
    new = await cluster.add_worker("w2")
    await cluster.lapse(old)
    await cluster.wait_held("job", new)
    await cluster.wait_for_event(run_id, "JobStarted", "job", 2)
    # The old worker finishes its copy while away, then comes back and reports it.
    old.release("job")
    await cluster.wait_until(lambda: old.executor.all_runs[0].result, what="the old copy")
    version = (await cluster.state(run_id)).version
    old.link.unblock()
    refused = await cluster.wait_rejected(old.worker_id, "job_finished")

    stale = "attempt 1 is not current (current: 2)"
    assert refused == [
        ("step_finished", "job", 1, stale),
        ("step_finished", "job", 1, stale),
        ("job_finished", "job", 1, stale),
    ]
    state = await cluster.state(run_id)
    assert state.version == version, "a stale report changed the run"
    assert state.jobs["job"].status is JobStatus.RUNNING
    assert state.jobs["job"].worker_id == new.worker_id
    await cluster.release("job", new)
    state = await cluster.wait_finished(run_id)
    assert state.status is RunStatus.SUCCESS
    assert [e for e in await cluster.history(run_id) if e.type == "JobFinished"] == [
        Entry("JobFinished", "job", 2)
    ]


async def test_a_returning_worker_s_slot_is_busy_until_its_lost_attempt_stops(
    make_cluster: ClusterFactory,
) -> None:
    cluster = await make_cluster(hold=False)
    gate = asyncio.Event()
    # Job a takes a while to end even when killed (an engine slow to reap it).
    stopped = asyncio.Event()
    slow_to_stop = FakeJob(steps=[FakeStep(gate=gate)], kill_gate=stopped)
    worker = await cluster.add_worker("w1", capacity=1, jobs={"a": slow_to_stop})
    run_id = await cluster.submit(TWO_JOBS)
    await cluster.wait_for_event(run_id, "JobStarted", "a", 1)
    await cluster.wait_until(lambda: worker.acked, what="the JobStarted acked")

    # Away longer than the lease: a#1 is lost; a#2 and b wait for a worker.
    worker.link.block()
    await cluster.lapse(worker)
    await cluster.wait_for_event(run_id, "JobAttemptLost", "a", 1)
    worker.link.unblock()
    # Back, the worker is told to kill a#1, which takes a while: until then its only
    # slot is still taken, and offering it work would only get that work rejected.
    await cluster.wait_until(lambda: worker.killed("a"), what="a#1 to be killed")
    session = await cluster.wait_connected(worker)
    await cluster.orchestrator.step()
    assert session.attempts == {AttemptKey(run_id, "a", 1)} and session.free == 0
    assert [j.status for j in (await cluster.state(run_id)).jobs.values()] == [
        JobStatus.QUEUED,
        JobStatus.QUEUED,
    ]
    stopped.set()
    gate.set()  # a#2 may then run through
    state = await cluster.wait_finished(run_id)

    assert state.status is RunStatus.SUCCESS
    assert [e for e in await cluster.history(run_id) if e.type == "JobAttemptLost"] == [
        Entry("JobAttemptLost", "a", 1)
    ]
    assert [a.number for a in state.jobs["b"].attempts] == [1]
    refused = await cluster.rejected(worker.worker_id)
    assert [(m, j, a) for m, j, a, _ in refused] == [("job_finished", "a", 1)]


async def test_a_draining_worker_finishes_its_job_and_takes_no_more(cluster: Cluster) -> None:
    leaving = await cluster.add_worker("w1", capacity=2)
    first = await cluster.submit(ONE_JOB)
    await cluster.wait_held("job", leaving)

    stopping = asyncio.create_task(cluster.stop_worker(leaving, drain=True))
    await cluster.wait_until(
        lambda: (s := cluster.session_of(leaving)) is not None and s.draining, what="Draining"
    )
    second = await cluster.submit(ONE_JOB)
    staying = await cluster.add_worker("w2")
    await cluster.wait_held("job", staying)  # not on w1, though it had a free slot
    assert not stopping.done()
    await cluster.release("job", leaving)
    async with asyncio.timeout(5):
        await stopping
    await cluster.release("job", staying)

    for run_id, worker in ((first, leaving), (second, staying)):
        state = await cluster.wait_finished(run_id)
        assert state.status is RunStatus.SUCCESS
        assert state.jobs["job"].worker_id == worker.worker_id
        assert await cluster.history(run_id) == DONE_ON_ATTEMPT_1
    assert not leaving.canceled("job")
    assert kinds(await cluster.worker_events(leaving.worker_id)) == [
        "WorkerRegistered",
        "WorkerConnected",
        "WorkerDisconnected",
    ]


# --- duplicate connections (raw worker streams the test drives) -----------------------


async def test_a_second_connection_of_the_same_worker_replaces_the_first(
    cluster: Cluster,
) -> None:
    async with (
        RawWorker(cluster.address, "dup", capacity=1) as first,
        RawWorker(cluster.address, "dup", capacity=2) as second,
    ):
        worker_id = await first.connect()
        run_id = await cluster.submit(ONE_JOB)
        assignment = (await first.expect("assign")).assign
        assert (assignment.ref.job, assignment.ref.attempt) == ("job", 1)

        # The same worker (the same credential) dials again, the first stream still open.
        welcome = await second.connect(worker_id, assignment.ref, bearer=first.credential)

        # The newest connection wins; the old stream is closed, cleanly.
        assert welcome == worker_id
        assert await first.receive() is None
        assert await first.stream.code() == grpc.StatusCode.OK
        (session,) = cluster.orchestrator.hub.sessions()
        assert (session.worker_id, session.capacity) == (worker_id, 2)
        assert session.attempts == {AttemptKey(run_id, "job", 1)}, "the attempt was not handed over"
        events = await cluster.worker_events(worker_id)
        assert [(type(e).__name__, getattr(e, "capacity", 0)) for e in events] == [
            ("WorkerRegistered", 0),
            ("WorkerConnected", 1),
            ("WorkerConnected", 2),
        ]

        # The attempt goes on over the new connection, past the lease of the old one.
        ref = assignment.ref
        key = AttemptKey(ref.run_id, ref.job, ref.attempt)
        await second.send(seq=1, job_started=worker_pb2.JobStarted(ref=ref))
        lease = cluster.settings.lease_ttl
        for _ in range(3):  # heartbeats over one and a half leases
            renewed = cluster.clock.monotonic() + lease
            await second.send(heartbeat=worker_pb2.Heartbeat(running=[ref]))
            await cluster.wait_until(
                lambda: cluster.orchestrator.hub.leases.deadline(key) == renewed,  # noqa: B023
                what="the heartbeat to renew the lease",
            )
            await cluster.advance(lease / 2)
        # JobStarted was acked a moment after it was handled; JobFinished is at once.
        ack = (await second.expect("ack")).ack
        assert (ack.ref.job, ack.through) == ("job", 1)
        done = worker_pb2.JobFinished(ref=ref, status=worker_pb2.JOB_RESULT_SUCCESS, exit_code=0)
        await second.send(seq=2, job_finished=done)
        ack = (await second.expect("ack")).ack
        assert (ack.ref.job, ack.through) == ("job", 2)
        await second.stream.done_writing()
        assert await second.receive() is None

    state = await cluster.wait_finished(run_id)
    assert state.status is RunStatus.SUCCESS
    assert "JobAttemptLost" not in [e.type for e in await cluster.history(run_id)]
    events = await cluster.worker_events(worker_id)
    assert isinstance(events[-1], WorkerDisconnected)
    assert [type(e) for e in events[1:3]] == [WorkerConnected, WorkerConnected]
