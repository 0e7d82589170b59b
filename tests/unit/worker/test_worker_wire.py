"""The worker's one converter: orchestrator messages in, worker messages out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf import timestamp_pb2

from xxci.common.attempts import AttemptKey
from xxci.common.pb.v1 import types_pb2, worker_pb2
from xxci.common.spec.model import ArtifactWhen
from xxci.common.status import FailureReason, JobStatus
from xxci.worker.attempt.messages import Accepted, Finished, OutputChunk, Started, StepFinished
from xxci.worker.connection import wire
from xxci.worker.connection.protocol import (
    Ack,
    Assign,
    AssignmentError,
    Cancel,
    Hello,
    Welcome,
)
from xxci.worker.connection.wire import assignment_from_proto
from xxci.worker.executor import Assignment, ExecutionResult

KEY = AttemptKey("r1", "build", 1)


def assign(**fields: object) -> worker_pb2.AssignJob:
    base: dict[str, object] = {
        "ref": worker_pb2.AttemptRef(run_id="r1", job="build", attempt=2),
        "stage": "build",
        "image": "gradle:8",
        "script": ["./gradlew assemble", "ls"],
    }
    base.update(fields)
    return worker_pb2.AssignJob(**base)  # type: ignore[arg-type]


def test_full_assignment() -> None:
    a = assignment_from_proto(
        assign(
            variables={"A": "1", "B": "two"},
            timeout_seconds=90,
            artifact_paths=["build/libs/*.jar"],
            artifact_when=worker_pb2.ARTIFACT_WHEN_ON_FAILURE,
            source_blob="sha256:abc",
            artifact_blobs=["sha256:first", "sha256:second"],
        )
    )
    assert a == Assignment(
        run_id="r1",
        job="build",
        attempt=2,
        stage="build",
        image="gradle:8",
        script=("./gradlew assemble", "ls"),
        variables={"A": "1", "B": "two"},
        timeout_seconds=90,
        artifact_paths=("build/libs/*.jar",),
        artifact_when=ArtifactWhen.ON_FAILURE,
        source_blob="sha256:abc",
        artifact_blobs=("sha256:first", "sha256:second"),
    )
    assert a.key == AttemptKey("r1", "build", 2)


def test_unset_fields_take_the_defaults() -> None:
    a = assignment_from_proto(assign())
    assert a.timeout_seconds == Assignment.__dataclass_fields__["timeout_seconds"].default
    assert a.artifact_when is ArtifactWhen.ON_SUCCESS
    assert a.variables == {}
    assert a.artifact_paths == ()
    assert (a.source_blob, a.artifact_blobs) == ("", ())


@pytest.mark.parametrize(
    ("wire", "when"),
    [
        (worker_pb2.ARTIFACT_WHEN_ALWAYS, ArtifactWhen.ALWAYS),
        (worker_pb2.ARTIFACT_WHEN_ON_SUCCESS, ArtifactWhen.ON_SUCCESS),
        (worker_pb2.ARTIFACT_WHEN_ON_FAILURE, ArtifactWhen.ON_FAILURE),
        (worker_pb2.ARTIFACT_WHEN_UNSPECIFIED, ArtifactWhen.ON_SUCCESS),
    ],
)
def test_artifact_when_values(wire: worker_pb2.ArtifactWhen.ValueType, when: ArtifactWhen) -> None:
    assert assignment_from_proto(assign(artifact_when=wire)).artifact_when is when


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"artifact_when": 9}, "unknown artifact_when 9"),
        ({"script": []}, "empty script"),
        ({"timeout_seconds": -1}, "negative timeout"),
        ({"ref": worker_pb2.AttemptRef()}, "without a run id"),
    ],
)
def test_unrunnable_assignments(fields: dict[str, object], message: str) -> None:
    with pytest.raises(AssignmentError, match=message):
        assignment_from_proto(assign(**fields))


def test_job_finished_with_exit_code() -> None:
    result = ExecutionResult(
        status=JobStatus.FAILED,
        exit_code=0,
        failure_reason=FailureReason.TIMEOUT,
        message="took too long",
    )
    out = wire.attempt_message(KEY, 7, Finished.of(result, "sha256:art"))
    assert out.seq == 7
    msg = out.job_finished
    assert msg.status == worker_pb2.JOB_RESULT_FAILED
    assert msg.HasField("exit_code") and msg.exit_code == 0
    assert msg.failure_reason == worker_pb2.FAILURE_REASON_TIMEOUT
    assert msg.message == "took too long"
    assert msg.artifacts_blob == "sha256:art"
    assert (msg.ref.run_id, msg.ref.job, msg.ref.attempt) == ("r1", "build", 1)


def test_job_finished_without_exit_code() -> None:
    finished = Finished.of(ExecutionResult(status=JobStatus.CANCELED))
    msg = wire.attempt_message(AttemptKey("r", "j", 1), 1, finished).job_finished
    assert msg.status == worker_pb2.JOB_RESULT_CANCELED
    assert not msg.HasField("exit_code")
    assert msg.failure_reason == worker_pb2.FAILURE_REASON_UNSPECIFIED
    assert msg.artifacts_blob == ""


def test_the_other_attempt_messages() -> None:
    ref = worker_pb2.AttemptRef(run_id="r1", job="build", attempt=1)
    assert wire.attempt_message(KEY, 1, Accepted()) == worker_pb2.WorkerMessage(
        seq=1, accept=worker_pb2.Accept(ref=ref)
    )
    started = wire.attempt_message(KEY, 2, Started("c0ffee", "sha256:img"))
    assert started == worker_pb2.WorkerMessage(
        seq=2,
        job_started=worker_pb2.JobStarted(ref=ref, container="c0ffee", image_digest="sha256:img"),
    )
    chunk = wire.attempt_message(KEY, 3, OutputChunk(seq=1, stream="stderr", data=b"oops\n"))
    assert chunk == worker_pb2.WorkerMessage(
        seq=3,
        log_chunk=worker_pb2.LogChunk(
            ref=ref, seq=1, stream=types_pb2.LOG_STREAM_STDERR, data=b"oops\n"
        ),
    )
    step = wire.attempt_message(KEY, 4, StepFinished(index=1, exit_code=3))
    assert step == worker_pb2.WorkerMessage(
        seq=4, step_finished=worker_pb2.StepFinished(ref=ref, index=1, exit_code=3)
    )


def test_the_stream_s_own_messages() -> None:
    hello = Hello("w", 2, ("linux",), "1.0", (KEY,), "w-1")
    assert wire.hello(hello).hello == worker_pb2.Hello(
        name="w",
        capacity=2,
        labels=["linux"],
        version="1.0",
        running=[worker_pb2.AttemptRef(run_id="r1", job="build", attempt=1)],
        worker_id="w-1",
    )
    assert [r.job for r in wire.heartbeat([KEY]).heartbeat.running] == ["build"]
    assert wire.draining().WhichOneof("kind") == "draining"
    reject = wire.reject(KEY, "worker is draining")
    assert (reject.seq, reject.reject.ref.job, reject.reject.reason) == (
        0,
        "build",
        "worker is draining",
    )
    accept = wire.accept(KEY)
    assert (accept.seq, accept.accept.ref.job) == (0, "build")  # outside the outbox


def orchestrator(**kind: object) -> worker_pb2.OrchestratorMessage:
    return worker_pb2.OrchestratorMessage(**kind)  # type: ignore[arg-type]


def test_commands_in() -> None:
    ref = worker_pb2.AttemptRef(run_id="r1", job="build", attempt=1)
    welcome = worker_pb2.Welcome(
        worker_id="w-1", heartbeat_interval_seconds=5, lease_ttl_seconds=30
    )
    assert wire.command(orchestrator(welcome=welcome)) == Welcome("w-1", 5.0, 30.0)
    cancel = worker_pb2.CancelJob(ref=ref, grace_seconds=2.5, reason="user")
    assert wire.command(orchestrator(cancel=cancel)) == Cancel(KEY, 2.5, "user")
    no_grace = worker_pb2.CancelJob(ref=ref)
    assert wire.command(orchestrator(cancel=no_grace)) == Cancel(KEY, None, "")
    revoke = worker_pb2.CancelJob(ref=ref, reason="gone", revoke=True)
    assert wire.command(orchestrator(cancel=revoke)) == Cancel(KEY, None, "gone", revoke=True)
    ack = worker_pb2.Ack(ref=ref, through=12)
    assert wire.command(orchestrator(ack=ack)) == Ack(KEY, 12)
    assert wire.command(worker_pb2.OrchestratorMessage()) is None


def test_an_assignment_in_is_run_or_refused_with_its_reason() -> None:
    good = wire.command(orchestrator(assign=assign()))
    assert good == Assign(AttemptKey("r1", "build", 2), assignment_from_proto(assign()))
    bad = wire.command(orchestrator(assign=assign(script=[])))
    assert isinstance(bad, Assign) and bad.key == AttemptKey("r1", "build", 2)
    assert isinstance(bad.assignment, AssignmentError)
    assert str(bad.assignment) == "job 'build' has an empty script"


def test_what_the_worker_stamps_goes_out_as_timestamps() -> None:
    at = datetime(2025, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
    stamp = timestamp_pb2.Timestamp(seconds=int(at.timestamp()), nanos=890123000)
    started = wire.attempt_message(KEY, 2, Started("c", "d", at=at)).job_started
    step = wire.attempt_message(KEY, 3, StepFinished(0, 0, at=at)).step_finished
    finished = wire.attempt_message(
        KEY, 4, Finished.of(ExecutionResult(JobStatus.SUCCESS), at=at)
    ).job_finished
    assert (started.started_at, step.finished_at, finished.finished_at) == (stamp, stamp, stamp)
    hello = wire.hello(Hello("w", 1, (), "1", (), "", sent_at=at)).hello
    assert hello.sent_at == stamp
    assert wire.heartbeat([], at).heartbeat.sent_at == stamp
    # Unstamped, nothing goes out: the orchestrator then uses the time of receipt.
    unstamped = wire.attempt_message(KEY, 2, Started("c", "d")).job_started
    assert not unstamped.HasField("started_at")
    assert not wire.heartbeat([]).heartbeat.HasField("sent_at")


def test_no_image_and_after_script_come_through() -> None:
    got = assignment_from_proto(assign(image="", after_script=["echo bye"]))
    assert (got.image, got.after_script) == ("", ("echo bye",))
