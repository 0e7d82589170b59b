"""Scenarios of a worker saying what is not its to say: output, reports and rejects
for attempts it was never given, and results naming artifacts nobody uploaded. Each
is refused without effect and recorded on the worker's stream."""

from __future__ import annotations

import pytest

from tests.fakes.raw_worker import RawWorker, ref
from tests.integration.orchestrator.harness import ONE_JOB, Cluster, Entry
from xxci.common.attempts import AttemptKey, LogStream
from xxci.common.pb.v1 import types_pb2, worker_pb2
from xxci.common.status import FailureReason, JobStatus, RunStatus
from xxci.orchestrator.domain.messages import JobReport, Output
from xxci.orchestrator.rpc.worker_service import WorkerServicer

pytestmark = pytest.mark.timeout(30)

NOT_ITS_OWN = "the attempt is not assigned to this worker"


def chunk(run_id: str, job: str, attempt: int, data: bytes) -> worker_pb2.LogChunk:
    return worker_pb2.LogChunk(
        ref=ref(run_id, job, attempt), seq=1, stream=types_pb2.LOG_STREAM_STDOUT, data=data
    )


async def test_output_for_attempts_a_worker_was_never_given_is_refused_unstored(
    cluster: Cluster,
) -> None:
    honest = await cluster.add_worker("w1")
    run_id = await cluster.submit(ONE_JOB)
    await cluster.wait_for_event(run_id, "JobStarted", "job", 1)

    async with RawWorker(cluster.address, "rogue") as rogue:
        await rogue.connect()
        # Sent early, forged output would have taken the places of the real output.
        await rogue.send(seq=1, log_chunk=chunk(run_id, "job", 1, b"forged\n"))
        await rogue.send(seq=1, log_chunk=chunk(run_id, "job", 2, b"future\n"))
        await rogue.send(seq=1, log_chunk=chunk(run_id, "nojob", 1, b"nowhere\n"))
        await rogue.send(seq=1, log_chunk=chunk("no-such-run", "job", 1, b"nowhere\n"))
        await cluster.release("job", honest)
        state = await cluster.wait_finished(run_id)
        # After the end, the finished job's log must not grow either.
        late = worker_pb2.LogChunk(
            ref=ref(run_id, "job", 1), seq=99, stream=types_pb2.LOG_STREAM_STDOUT, data=b"late\n"
        )
        await rogue.send(seq=2, log_chunk=late)
        refused = await cluster.wait_refusals(rogue.worker_id, 5)

    assert state.status is RunStatus.SUCCESS
    assert await cluster.log_text(run_id, "job") == "job: make\njob: make check\n"
    assert await cluster.orchestrator.logs.attempts(run_id, "job") == [1]
    assert await cluster.orchestrator.logs.attempts(run_id, "nojob") == []
    assert await cluster.orchestrator.logs.attempts("no-such-run", "job") == []
    assert refused == [
        ("log_chunk", "job", 1, NOT_ITS_OWN),
        ("log_chunk", "job", 2, "attempt 2 of the job was never assigned"),
        ("log_chunk", "nojob", 1, "no such job"),
        ("log_chunk", "job", 1, "no such run"),
        ("log_chunk", "job", 1, NOT_ITS_OWN),
    ]
    assert await cluster.rejected(honest.worker_id) == []


async def test_forged_ends_of_a_running_job_leave_its_real_worker_s_lease_alone(
    cluster: Cluster,
) -> None:
    honest = await cluster.add_worker("w1")
    run_id = await cluster.submit(ONE_JOB)
    await cluster.wait_for_event(run_id, "JobStarted", "job", 1)
    key = AttemptKey(run_id, "job", 1)

    async with RawWorker(cluster.address, "rogue") as rogue:
        await rogue.connect()
        finished = worker_pb2.JobFinished(
            ref=ref(run_id, "job"), status=worker_pb2.JOB_RESULT_SUCCESS, exit_code=0
        )
        await rogue.send(seq=1, job_finished=finished)
        await rogue.send(reject=worker_pb2.Reject(ref=ref(run_id, "job"), reason="forged"))
        refused = await cluster.wait_refusals(rogue.worker_id, 2)

    assert refused == [("job_finished", "job", 1, NOT_ITS_OWN), ("reject", "job", 1, NOT_ITS_OWN)]
    assert (await cluster.state(run_id)).jobs["job"].status is JobStatus.RUNNING
    assert cluster.orchestrator.hub.owner_of(key) == honest.worker_id
    session = cluster.session_of(honest)
    assert session is not None and session.attempts == {key}, "the real worker lost its slot"

    # Its lease still runs: when the real worker dies, its attempt is lost and run again.
    await cluster.crash(honest)
    await cluster.lapse(honest)
    await cluster.wait_for_event(run_id, "JobAttemptLost", "job", 1)
    other = await cluster.add_worker("w2")
    await cluster.release("job", other)
    state = await cluster.wait_finished(run_id)
    assert state.status is RunStatus.SUCCESS
    assert state.jobs["job"].worker_id == other.worker_id


TWO_WITH_ARTIFACTS = """
pipeline:
  name: scenario
stages: [build, test]
default:
  image: busybox
jobs:
  - name: unknown
    stage: build
    script: [make]
    artifacts: {paths: [out/]}
  - name: malformed
    stage: build
    script: [make]
    artifacts: {paths: [out/]}
  - name: use
    stage: test
    needs: [unknown]
    script: [ls out]
"""


async def test_a_job_finished_naming_artifacts_never_uploaded_fails_the_attempt(
    cluster: Cluster,
) -> None:
    never_uploaded = "sha256:" + "0" * 64
    async with RawWorker(cluster.address, "scripted", capacity=2) as worker:
        await worker.connect()
        run_id = await cluster.submit(TWO_WITH_ARTIFACTS)
        given = {}
        for _ in range(2):
            assign = (await worker.expect("assign")).assign
            given[assign.ref.job] = assign.ref
        blobs = {"unknown": never_uploaded, "malformed": "../../etc/passwd"}
        for job, blob in blobs.items():
            done = worker_pb2.JobFinished(
                ref=given[job],
                status=worker_pb2.JOB_RESULT_SUCCESS,
                exit_code=0,
                artifacts_blob=blob,
            )
            await worker.send(seq=1, job_finished=done)
        state = await cluster.wait_finished(run_id)

    assert state.status is RunStatus.FAILED
    for job in ("unknown", "malformed"):
        assert state.jobs[job].status is JobStatus.FAILED
        assert state.jobs[job].failure_reason is FailureReason.SYSTEM_FAILURE
        assert state.jobs[job].artifacts_blob == ""
    assert state.jobs["unknown"].message == (
        f"the worker reported artifacts {never_uploaded} that were never uploaded"
    )
    assert state.jobs["malformed"].message == (
        "the worker reported artifacts '../../etc/passwd', which is not a blob digest"
    )
    assert state.jobs["use"].status is JobStatus.SKIPPED
    assert Entry("JobAssigned", "use", 1) not in await cluster.history(run_id)


async def test_what_a_replaced_stream_still_says_is_refused(cluster: Cluster) -> None:
    worker = await cluster.add_worker("w1")
    run_id = await cluster.submit(ONE_JOB)
    await cluster.wait_for_event(run_id, "JobStarted", "job", 1)
    old = cluster.session_of(worker)
    worker.link.cut()
    await cluster.wait_until(
        lambda: (s := cluster.session_of(worker)) is not None and s is not old,
        what="the worker to reconnect",
    )
    assert old is not None
    o = cluster.orchestrator
    servicer = WorkerServicer(o.runs, o.hub, o.identities, o.logs, o.blobs, o.clock)
    key = AttemptKey(run_id, "job", 1)

    # Messages the old stream still delivers (read before it was torn down) are void.
    await servicer._handle(9, Output(key, 99, LogStream.STDOUT, b"stale\n"), old)
    await servicer._handle(10, JobReport(key, JobStatus.SUCCESS, exit_code=0), old)

    stale = "sent over a connection that is not the worker's current one"
    assert await cluster.rejected(worker.worker_id) == [
        ("log_chunk", "job", 1, stale),
        ("job_finished", "job", 1, stale),
    ]
    assert await o.logs.last_seq(run_id, "job", 1) < 99
    assert (await cluster.state(run_id)).jobs["job"].status is JobStatus.RUNNING
    assert o.hub.owner_of(key) == worker.worker_id
    await cluster.release("job", worker)
    assert (await cluster.wait_finished(run_id)).status is RunStatus.SUCCESS
