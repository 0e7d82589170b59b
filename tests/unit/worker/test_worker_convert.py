"""AssignJob -> Assignment and ExecutionResult -> JobFinished, at the edge."""

from __future__ import annotations

import pytest

from xxci.common.attempts import AttemptKey
from xxci.common.pb.v1 import worker_pb2
from xxci.common.spec.model import ArtifactWhen
from xxci.common.status import FailureReason, JobStatus
from xxci.worker.convert import AssignmentError, assignment_from_proto, job_finished
from xxci.worker.executor import Assignment, ExecutionResult


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
    )


def test_unset_fields_take_the_defaults() -> None:
    a = assignment_from_proto(assign())
    assert a.timeout_seconds == Assignment.__dataclass_fields__["timeout_seconds"].default
    assert a.artifact_when is ArtifactWhen.ON_SUCCESS
    assert a.variables == {}
    assert a.artifact_paths == ()


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
        ({"image": ""}, "has no image"),
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
    msg = job_finished(AttemptKey("r1", "build", 1), result, "sha256:art")
    assert msg.status == worker_pb2.JOB_RESULT_FAILED
    assert msg.HasField("exit_code") and msg.exit_code == 0
    assert msg.failure_reason == worker_pb2.FAILURE_REASON_TIMEOUT
    assert msg.message == "took too long"
    assert msg.artifacts_blob == "sha256:art"
    assert (msg.ref.run_id, msg.ref.job, msg.ref.attempt) == ("r1", "build", 1)


def test_job_finished_without_exit_code() -> None:
    msg = job_finished(AttemptKey("r", "j", 1), ExecutionResult(status=JobStatus.CANCELED))
    assert msg.status == worker_pb2.JOB_RESULT_CANCELED
    assert not msg.HasField("exit_code")
    assert msg.failure_reason == worker_pb2.FAILURE_REASON_UNSPECIFIED
    assert msg.artifacts_blob == ""
