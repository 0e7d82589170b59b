"""The closed sets of values cross the wire as proto enums and come back unchanged."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import pytest

from xxci.common.attempts import AttemptKey, LogStream
from xxci.common.convert import (
    artifact_when_from_pb,
    artifact_when_to_pb,
    attempt_key,
    attempt_ref,
    failure_reason_from_pb,
    failure_reason_to_pb,
    job_result_from_pb,
    job_result_to_pb,
    log_stream_from_pb,
    log_stream_to_pb,
)
from xxci.common.pb.v1 import types_pb2, worker_pb2
from xxci.common.spec.model import ArtifactWhen
from xxci.common.status import FailureReason, JobStatus

REPORTED = (JobStatus.SUCCESS, JobStatus.FAILED, JobStatus.CANCELED)


@pytest.mark.parametrize(
    ("values", "to_pb", "from_pb", "wire"),
    [
        (list(LogStream), log_stream_to_pb, log_stream_from_pb, types_pb2.LogStream),
        (
            list(FailureReason),
            failure_reason_to_pb,
            failure_reason_from_pb,
            worker_pb2.FailureReason,
        ),
        (list(ArtifactWhen), artifact_when_to_pb, artifact_when_from_pb, worker_pb2.ArtifactWhen),
        (list(REPORTED), job_result_to_pb, job_result_from_pb, worker_pb2.JobResult),
    ],
)
def test_every_value_has_its_own_wire_value_and_comes_back(
    values: list[enum.Enum],
    to_pb: Callable[[Any], int],
    from_pb: Callable[[Any], Any],
    wire: Any,
) -> None:
    sent = [to_pb(v) for v in values]
    assert 0 not in sent, "UNSPECIFIED is never sent for a value"
    assert len(set(sent)) == len(values)
    assert sorted(sent) == sorted(v for v in wire.values() if v != 0), "a wire value has no twin"
    assert [from_pb(v) for v in sent] == values


def test_unknown_and_unspecified_values_fall_back() -> None:
    assert log_stream_from_pb(types_pb2.LOG_STREAM_UNSPECIFIED) is LogStream.STDOUT
    assert log_stream_from_pb(99) is LogStream.STDOUT  # type: ignore[arg-type]
    assert log_stream_to_pb("tty") == types_pb2.LOG_STREAM_UNSPECIFIED
    assert job_result_from_pb(worker_pb2.JOB_RESULT_UNSPECIFIED) is None
    assert failure_reason_from_pb(worker_pb2.FAILURE_REASON_UNSPECIFIED) is None
    assert failure_reason_to_pb(None) == worker_pb2.FAILURE_REASON_UNSPECIFIED
    assert artifact_when_from_pb(worker_pb2.ARTIFACT_WHEN_UNSPECIFIED) is ArtifactWhen.ON_SUCCESS
    assert artifact_when_from_pb(99) is None  # type: ignore[arg-type]


def test_a_worker_cannot_report_an_unfinished_status() -> None:
    with pytest.raises(ValueError, match="a worker cannot report RUNNING"):
        job_result_to_pb(JobStatus.RUNNING)


def test_attempt_key_round_trip() -> None:
    key = AttemptKey("r1", "build", 3)
    assert attempt_key(attempt_ref(key)) == key
    assert str(key) == "r1/build#3"
