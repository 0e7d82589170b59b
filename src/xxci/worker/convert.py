"""Protobuf <-> worker dataclasses, at the edge of the connection loop.

Everything past this module works with :class:`~xxci.common.attempts.AttemptKey`,
:class:`Assignment` and :class:`ExecutionResult`; only the connection loop and the
outbox hold protobufs.
"""

from __future__ import annotations

from dataclasses import replace

from xxci.common.attempts import AttemptKey
from xxci.common.convert import (
    artifact_when_from_pb,
    attempt_ref,
    failure_reason_to_pb,
    job_result_to_pb,
    log_stream_to_pb,
)
from xxci.common.pb.v1 import worker_pb2
from xxci.common.spec.model import ArtifactWhen
from xxci.worker.executor import Assignment, ExecutionResult

__all__ = [
    "AssignmentError",
    "assignment_from_proto",
    "job_finished",
    "log_chunk",
]


class AssignmentError(ValueError):
    """An AssignJob the worker cannot run as sent; the text is the Reject reason."""


def _artifact_when(value: worker_pb2.ArtifactWhen.ValueType) -> ArtifactWhen:
    when = artifact_when_from_pb(value)
    if when is None:
        choices = ", ".join(w.value for w in ArtifactWhen)
        raise AssignmentError(f"unknown artifact_when {value!r} (expected one of {choices})")
    return when


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
        ref=attempt_ref(key),
        status=job_result_to_pb(result.status),
        failure_reason=failure_reason_to_pb(result.failure_reason),
        message=result.message,
        artifacts_blob=artifacts_blob,
    )
    if result.exit_code is not None:
        msg.exit_code = result.exit_code
    return msg


def log_chunk(key: AttemptKey, seq: int, stream: str, data: bytes) -> worker_pb2.LogChunk:
    """Output piece ``seq`` of attempt ``key``; ``stream`` is a LogStream value."""
    return worker_pb2.LogChunk(
        ref=attempt_ref(key), seq=seq, stream=log_stream_to_pb(stream), data=data
    )
