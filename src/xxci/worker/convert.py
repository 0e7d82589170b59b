"""Protobuf <-> worker dataclasses, at the edge of the connection loop.

Everything past this module works with :class:`AttemptKey`, :class:`Assignment` and
:class:`ExecutionResult`; only the connection loop and the outbox hold protobufs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from xxci.common.pb.v1 import worker_pb2
from xxci.common.spec.model import ArtifactWhen
from xxci.worker.executor import Assignment, ExecutionResult

__all__ = [
    "AssignmentError",
    "AttemptKey",
    "assignment_from_proto",
    "job_finished",
]


class AssignmentError(ValueError):
    """An AssignJob the worker cannot run as sent; the text is the Reject reason."""


@dataclass(frozen=True, order=True)
class AttemptKey:
    """Names one attempt of one job of one run (the ``AttemptRef`` of the wire)."""

    run_id: str
    job: str
    attempt: int

    @classmethod
    def from_proto(cls, ref: worker_pb2.AttemptRef) -> AttemptKey:
        return cls(run_id=ref.run_id, job=ref.job, attempt=ref.attempt)

    def to_proto(self) -> worker_pb2.AttemptRef:
        return worker_pb2.AttemptRef(run_id=self.run_id, job=self.job, attempt=self.attempt)

    def __str__(self) -> str:
        return f"{self.run_id}/{self.job}#{self.attempt}"


def _artifact_when(value: str) -> ArtifactWhen:
    if not value:
        return ArtifactWhen.ON_SUCCESS
    try:
        return ArtifactWhen(value.lower())
    except ValueError:
        choices = ", ".join(w.value for w in ArtifactWhen)
        raise AssignmentError(
            f"unknown artifact_when {value!r} (expected one of {choices})"
        ) from None


def assignment_from_proto(msg: worker_pb2.AssignJob) -> Assignment:
    """The :class:`Assignment` an ``AssignJob`` describes.

    Raises :class:`AssignmentError` for a message that cannot be run (no attempt
    ref, no image, no script, a negative timeout, an unknown ``artifact_when``).
    """
    if not msg.HasField("ref") or not msg.ref.run_id or not msg.ref.job:
        raise AssignmentError("assignment without a run id and job name")
    if not msg.image:
        raise AssignmentError(f"job {msg.ref.job!r} has no image")
    if not msg.script:
        raise AssignmentError(f"job {msg.ref.job!r} has an empty script")
    if msg.timeout_seconds < 0:
        raise AssignmentError(f"job {msg.ref.job!r} has a negative timeout")
    assignment = Assignment(
        run_id=msg.ref.run_id,
        job=msg.ref.job,
        attempt=msg.ref.attempt,
        stage=msg.stage,
        image=msg.image,
        script=tuple(msg.script),
        variables=dict(msg.variables),
        artifact_paths=tuple(msg.artifact_paths),
        artifact_when=_artifact_when(msg.artifact_when),
    )
    if msg.timeout_seconds > 0:  # 0 = unset on the wire: keep the executor's default
        assignment = replace(assignment, timeout_seconds=msg.timeout_seconds)
    return assignment


def job_finished(
    key: AttemptKey, result: ExecutionResult, artifacts_blob: str = ""
) -> worker_pb2.JobFinished:
    """The ``JobFinished`` reporting ``result`` for attempt ``key``."""
    msg = worker_pb2.JobFinished(
        ref=key.to_proto(),
        status=result.status.value,
        failure_reason=result.failure_reason.value if result.failure_reason else "",
        message=result.message,
        artifacts_blob=artifacts_blob,
    )
    if result.exit_code is not None:
        msg.exit_code = result.exit_code
    return msg
