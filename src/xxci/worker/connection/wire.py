"""Protobuf <-> the worker's plain values: the one place the worker converts.

In: an ``OrchestratorMessage`` becomes a :mod:`~xxci.worker.connection.protocol`
value (an ``AssignJob`` an :class:`~xxci.worker.executor.Assignment`, blob digests
included). Out: an attempt's :mod:`~xxci.worker.attempt.messages` (numbered by its
outbox) and the session's own messages (Hello, Heartbeat, Draining, Accept, Reject)
become ``WorkerMessage``\\ s. Past this module and the stream that carries them,
nothing in the worker reads or builds a protobuf.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from xxci.common.attempts import AttemptKey
from xxci.common.convert import (
    artifact_when_from_pb,
    attempt_key,
    attempt_ref,
    cache_from_pb,
    failure_reason_to_pb,
    job_result_to_pb,
    log_stream_to_pb,
    secret_from_pb,
    service_from_pb,
    time_to_pb,
)
from xxci.common.job_extras import service_of_stream
from xxci.common.pb.v1 import worker_pb2
from xxci.common.spec.model import ArtifactWhen
from xxci.common.spec.services_cache import Cache
from xxci.worker.attempt.messages import (
    Accepted,
    AttemptMessage,
    Finished,
    OutputChunk,
    Started,
    StepFinished,
)
from xxci.worker.connection.protocol import (
    Ack,
    Assign,
    AssignmentError,
    Cancel,
    Command,
    Hello,
    Welcome,
)
from xxci.worker.executor import Assignment

__all__ = [
    "accept",
    "assignment_from_proto",
    "attempt_message",
    "command",
    "draining",
    "heartbeat",
    "hello",
    "job_finished",
    "reject",
]


# -- in ----------------------------------------------------------------------------


def command(msg: worker_pb2.OrchestratorMessage) -> Command | None:
    """What ``msg`` tells the worker; None for a kind this worker does not know."""
    kind = msg.WhichOneof("kind")
    if kind == "welcome":
        welcome = msg.welcome
        return Welcome(
            worker_id=welcome.worker_id,
            heartbeat_interval_seconds=welcome.heartbeat_interval_seconds,
            lease_ttl_seconds=welcome.lease_ttl_seconds,
        )
    if kind == "assign":
        try:
            assignment: Assignment | AssignmentError = assignment_from_proto(msg.assign)
        except AssignmentError as err:
            assignment = err
        return Assign(attempt_key(msg.assign.ref), assignment)
    if kind == "cancel":
        cancel = msg.cancel
        grace = cancel.grace_seconds or None
        return Cancel(attempt_key(cancel.ref), grace, cancel.reason, revoke=cancel.revoke)
    if kind == "ack":
        return Ack(attempt_key(msg.ack.ref), msg.ack.through)
    return None


def _artifact_when(value: worker_pb2.ArtifactWhen.ValueType) -> ArtifactWhen:
    when = artifact_when_from_pb(value)
    if when is None:
        choices = ", ".join(w.value for w in ArtifactWhen)
        raise AssignmentError(f"unknown artifact_when {value!r} (expected one of {choices})")
    return when


def _caches(msg: worker_pb2.AssignJob) -> tuple[Cache, ...]:
    try:
        return tuple(cache_from_pb(c) for c in msg.caches)
    except ValueError as err:
        raise AssignmentError(f"job {msg.ref.job!r} has a cache xxci cannot run: {err}") from err


def assignment_from_proto(msg: worker_pb2.AssignJob) -> Assignment:
    """The :class:`Assignment` an ``AssignJob`` describes.

    Raises :class:`AssignmentError` for a message that cannot be run (no attempt
    ref, no script, a negative timeout, an unknown ``artifact_when``). An empty image
    is the executor's default image.
    """
    if not msg.HasField("ref") or not msg.ref.run_id or not msg.ref.job:
        raise AssignmentError("assignment without a run id and job name")
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
        source_blob=msg.source_blob,
        artifact_blobs=tuple(msg.artifact_blobs),
        after_script=tuple(msg.after_script),
        entrypoint=tuple(msg.entrypoint),
        image_entrypoint=msg.image_entrypoint,
        prefer_bash=msg.prefer_bash,
        artifact_exclude=tuple(msg.artifact_exclude),
        artifact_untracked=msg.artifact_untracked,
        output_limit=msg.output_limit_bytes or None,
        artifact_limit=msg.artifact_limit_bytes or None,
        services=tuple(service_from_pb(s) for s in msg.services),
        caches=_caches(msg),
        cache_scope=msg.cache_scope,
        secrets=tuple(secret_from_pb(s) for s in msg.secrets),
        masked_values=tuple(msg.masked_values),
    )
    if msg.timeout_seconds > 0:  # 0 = unset on the wire: keep the executor's default
        assignment = replace(assignment, timeout_seconds=msg.timeout_seconds)
    return assignment


# -- out ---------------------------------------------------------------------------


def attempt_message(key: AttemptKey, seq: int, message: AttemptMessage) -> worker_pb2.WorkerMessage:
    """Attempt ``key``'s ``message``, number ``seq`` among its messages."""
    ref = attempt_ref(key)
    if isinstance(message, Accepted):
        return worker_pb2.WorkerMessage(seq=seq, accept=worker_pb2.Accept(ref=ref))
    if isinstance(message, Started):
        started = worker_pb2.JobStarted(
            ref=ref, container=message.container, image_digest=message.image_digest
        )
        if message.at is not None:
            started.started_at.CopyFrom(time_to_pb(message.at))
        return worker_pb2.WorkerMessage(seq=seq, job_started=started)
    if isinstance(message, OutputChunk):
        service = service_of_stream(message.stream)
        chunk = worker_pb2.LogChunk(
            ref=ref,
            seq=message.seq,
            stream=log_stream_to_pb("stdout" if service else message.stream),
            data=message.data,
            service=service,
        )
        return worker_pb2.WorkerMessage(seq=seq, log_chunk=chunk)
    if isinstance(message, StepFinished):
        step = worker_pb2.StepFinished(ref=ref, index=message.index, exit_code=message.exit_code)
        if message.at is not None:
            step.finished_at.CopyFrom(time_to_pb(message.at))
        return worker_pb2.WorkerMessage(seq=seq, step_finished=step)
    return worker_pb2.WorkerMessage(seq=seq, job_finished=job_finished(ref, message))


def job_finished(ref: worker_pb2.AttemptRef, finished: Finished) -> worker_pb2.JobFinished:
    """The ``JobFinished`` reporting ``finished`` for the attempt ``ref`` names."""
    msg = worker_pb2.JobFinished(
        ref=ref,
        status=job_result_to_pb(finished.status),
        failure_reason=failure_reason_to_pb(finished.failure_reason),
        message=finished.message,
        artifacts_blob=finished.artifacts_blob,
        output_cut=finished.output_cut,
        artifacts_cut=finished.artifacts_cut,
    )
    if finished.exit_code is not None:
        msg.exit_code = finished.exit_code
    if finished.at is not None:
        msg.finished_at.CopyFrom(time_to_pb(finished.at))
    return msg


def hello(msg: Hello) -> worker_pb2.WorkerMessage:
    """The Hello opening a stream."""
    hello = worker_pb2.Hello(
        name=msg.name,
        capacity=msg.capacity,
        labels=msg.labels,
        version=msg.version,
        running=[attempt_ref(key) for key in msg.running],
        worker_id=msg.worker_id,
    )
    if msg.sent_at is not None:
        hello.sent_at.CopyFrom(time_to_pb(msg.sent_at))
    return worker_pb2.WorkerMessage(hello=hello)


def heartbeat(
    running: Iterable[AttemptKey], sent_at: datetime | None = None
) -> worker_pb2.WorkerMessage:
    """What the worker runs, and its clock (``sent_at``) as the heartbeat goes out."""
    beat = worker_pb2.Heartbeat(running=[attempt_ref(key) for key in running])
    if sent_at is not None:
        beat.sent_at.CopyFrom(time_to_pb(sent_at))
    return worker_pb2.WorkerMessage(heartbeat=beat)


def draining() -> worker_pb2.WorkerMessage:
    return worker_pb2.WorkerMessage(draining=worker_pb2.Draining())


def accept(key: AttemptKey) -> worker_pb2.WorkerMessage:
    """Accept again an attempt that already runs here (outside its outbox: no seq)."""
    return worker_pb2.WorkerMessage(accept=worker_pb2.Accept(ref=attempt_ref(key)))


def reject(key: AttemptKey, reason: str) -> worker_pb2.WorkerMessage:
    return worker_pb2.WorkerMessage(reject=worker_pb2.Reject(ref=attempt_ref(key), reason=reason))
