"""The orchestrator's side of the worker stream: commands out, worker messages in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf import timestamp_pb2

from xxci.common.attempts import AttemptKey, LogStream
from xxci.common.pb.v1 import types_pb2, worker_pb2
from xxci.common.spec.model import ArtifactWhen
from xxci.common.status import FailureReason, JobStatus
from xxci.orchestrator.domain.messages import (
    Accepted,
    Ack,
    Assign,
    Cancel,
    Draining,
    Heartbeat,
    Hello,
    JobReport,
    Output,
    Rejected,
    Started,
    StepEnded,
    Welcome,
    WorkerMessage,
)
from xxci.orchestrator.rpc.worker_wire import from_pb, to_pb

KEY = AttemptKey("r1", "build", 2)
REF = worker_pb2.AttemptRef(run_id="r1", job="build", attempt=2)


def test_welcome() -> None:
    message = to_pb(Welcome("w-1", heartbeat_interval=5, lease_ttl=30))
    assert message.welcome == worker_pb2.Welcome(
        worker_id="w-1", heartbeat_interval_seconds=5, lease_ttl_seconds=30
    )


def test_an_assignment_goes_out_whole() -> None:
    command = Assign(
        key=KEY,
        stage="build",
        image="gradle:8",
        script=("make", "make check"),
        variables={"CI": "true"},
        timeout_seconds=90,
        source_blob="sha256:src",
        artifact_blobs=("sha256:a", "sha256:b"),
        artifact_paths=("dist/",),
        artifact_when=ArtifactWhen.ON_FAILURE,
    )
    assert to_pb(command).assign == worker_pb2.AssignJob(
        ref=REF,
        stage="build",
        image="gradle:8",
        script=["make", "make check"],
        variables={"CI": "true"},
        timeout_seconds=90,
        source_blob="sha256:src",
        artifact_blobs=["sha256:a", "sha256:b"],
        artifact_paths=["dist/"],
        artifact_when=worker_pb2.ARTIFACT_WHEN_ON_FAILURE,
    )


def test_cancel_and_ack() -> None:
    cancel = to_pb(Cancel(KEY, grace_seconds=90, reason="canceled")).cancel
    assert cancel == worker_pb2.CancelJob(ref=REF, grace_seconds=90, reason="canceled")
    assert to_pb(Ack(KEY, through=7)).ack == worker_pb2.Ack(ref=REF, through=7)


def test_a_revoking_cancel_says_so() -> None:
    cancel = to_pb(Cancel(KEY, grace_seconds=0, reason="gone", revoke=True)).cancel
    assert cancel == worker_pb2.CancelJob(ref=REF, reason="gone", revoke=True)


AT = datetime(2025, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
STAMP = timestamp_pb2.Timestamp(seconds=int(AT.timestamp()), nanos=890123000)


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (
            worker_pb2.WorkerMessage(hello=worker_pb2.Hello(name="w1", capacity=1, sent_at=STAMP)),
            Hello("w1", 1, sent_at=AT),
        ),
        (
            worker_pb2.WorkerMessage(heartbeat=worker_pb2.Heartbeat(sent_at=STAMP)),
            Heartbeat((), sent_at=AT),
        ),
        (
            worker_pb2.WorkerMessage(
                job_started=worker_pb2.JobStarted(ref=REF, container="c", started_at=STAMP)
            ),
            Started(KEY, "c", at=AT),
        ),
        (
            worker_pb2.WorkerMessage(
                step_finished=worker_pb2.StepFinished(ref=REF, index=0, finished_at=STAMP)
            ),
            StepEnded(KEY, 0, 0, at=AT),
        ),
        (
            worker_pb2.WorkerMessage(
                job_finished=worker_pb2.JobFinished(
                    ref=REF, status=worker_pb2.JOB_RESULT_SUCCESS, finished_at=STAMP
                )
            ),
            JobReport(KEY, JobStatus.SUCCESS, at=AT),
        ),
    ],
)
def test_the_times_a_worker_stamps_come_in_as_utc(
    wire: worker_pb2.WorkerMessage, expected: WorkerMessage
) -> None:
    assert from_pb(wire) == (expected, 0)


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (
            worker_pb2.WorkerMessage(
                hello=worker_pb2.Hello(
                    name="w1", capacity=2, labels=["gpu"], version="1", running=[REF]
                )
            ),
            Hello("w1", 2, ("gpu",), "1", (KEY,), ""),
        ),
        (
            worker_pb2.WorkerMessage(heartbeat=worker_pb2.Heartbeat(running=[REF])),
            Heartbeat((KEY,)),
        ),
        (worker_pb2.WorkerMessage(draining=worker_pb2.Draining()), Draining()),
        (
            worker_pb2.WorkerMessage(reject=worker_pb2.Reject(ref=REF, reason="busy")),
            Rejected(KEY, "busy"),
        ),
        (worker_pb2.WorkerMessage(accept=worker_pb2.Accept(ref=REF), seq=1), Accepted(KEY)),
        (
            worker_pb2.WorkerMessage(
                job_started=worker_pb2.JobStarted(ref=REF, container="c", image_digest="d"), seq=2
            ),
            Started(KEY, "c", "d"),
        ),
        (
            worker_pb2.WorkerMessage(
                log_chunk=worker_pb2.LogChunk(
                    ref=REF, seq=4, stream=types_pb2.LOG_STREAM_STDERR, data=b"x"
                ),
                seq=3,
            ),
            Output(KEY, 4, LogStream.STDERR, b"x"),
        ),
        (
            worker_pb2.WorkerMessage(
                step_finished=worker_pb2.StepFinished(ref=REF, index=1, exit_code=3), seq=4
            ),
            StepEnded(KEY, 1, 3),
        ),
        (
            worker_pb2.WorkerMessage(
                job_finished=worker_pb2.JobFinished(
                    ref=REF,
                    status=worker_pb2.JOB_RESULT_FAILED,
                    exit_code=0,
                    failure_reason=worker_pb2.FAILURE_REASON_TIMEOUT,
                    message="slow",
                    artifacts_blob="sha256:art",
                ),
                seq=5,
            ),
            JobReport(KEY, JobStatus.FAILED, 0, FailureReason.TIMEOUT, "slow", "sha256:art"),
        ),
    ],
)
def test_each_worker_message_comes_in_with_its_seq(
    wire: worker_pb2.WorkerMessage, expected: WorkerMessage
) -> None:
    assert from_pb(wire) == (expected, wire.seq)


def test_a_report_the_orchestrator_cannot_read_counts_as_a_failure_without_reason() -> None:
    wire = worker_pb2.WorkerMessage(
        job_finished=worker_pb2.JobFinished(ref=REF, status=99, failure_reason=99),  # type: ignore[arg-type]
        seq=1,
    )
    assert from_pb(wire) == (JobReport(KEY, JobStatus.FAILED), 1)


def test_a_message_of_no_known_kind_is_none() -> None:
    assert from_pb(worker_pb2.WorkerMessage(seq=3)) is None
