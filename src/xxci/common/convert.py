"""Protobuf <-> domain conversions that more than one side of the wire needs.

The closed sets of values (job results, failure reasons, artifact ``when``, log
streams) are proto enums on the wire and Python enums everywhere else; each table
here is total over the Python enum. Reading never raises: a value this side does not
know (a newer peer, or UNSPECIFIED) comes back as the documented fallback or ``None``,
and the caller decides what that means.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import timestamp_pb2

from xxci.common.api import RegisteredWorker
from xxci.common.attempts import AttemptKey, LogStream
from xxci.common.events import RecordedEvent, decode_event, encode_event
from xxci.common.job_extras import GivenSecret
from xxci.common.pb.v1 import pipeline_pb2, types_pb2, worker_pb2
from xxci.common.spec.model import ArtifactWhen
from xxci.common.spec.services_cache import Cache, CachePolicy, CacheWhen, Service
from xxci.common.status import FailureReason, JobStatus

__all__ = [
    "artifact_when_from_pb",
    "artifact_when_to_pb",
    "attempt_key",
    "attempt_ref",
    "cache_from_pb",
    "cache_to_pb",
    "failure_reason_from_pb",
    "failure_reason_to_pb",
    "job_result_from_pb",
    "job_result_to_pb",
    "log_stream_from_pb",
    "log_stream_to_pb",
    "record_from_pb",
    "record_to_pb",
    "registered_worker_from_pb",
    "registered_worker_to_pb",
    "secret_from_pb",
    "secret_to_pb",
    "service_from_pb",
    "service_to_pb",
    "time_from_pb",
    "time_to_pb",
]


def record_to_pb(rec: RecordedEvent) -> pipeline_pb2.EventRecord:
    type_name, data = encode_event(rec.event)
    return pipeline_pb2.EventRecord(
        seq=rec.seq,
        stream=rec.stream,
        version=rec.version,
        type=type_name,
        data=data,
        at=rec.at.isoformat(),
    )


def record_from_pb(msg: pipeline_pb2.EventRecord) -> RecordedEvent:
    return RecordedEvent(
        seq=msg.seq,
        stream=msg.stream,
        version=msg.version,
        at=datetime.fromisoformat(msg.at),
        event=decode_event(msg.type, msg.data),
    )


def time_to_pb(at: datetime) -> timestamp_pb2.Timestamp:
    """A timezone-aware time as a ``Timestamp``."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(at)
    return stamp


def time_from_pb(stamp: timestamp_pb2.Timestamp) -> datetime:
    """A ``Timestamp`` as a UTC time."""
    return stamp.ToDatetime(tzinfo=UTC)


def registered_worker_to_pb(worker: RegisteredWorker) -> pipeline_pb2.RegisteredWorker:
    return pipeline_pb2.RegisteredWorker(
        worker_id=worker.worker_id,
        name=worker.name,
        registered_at=worker.registered_at.isoformat(),
        last_seen_at=_time(worker.last_seen_at),
        connected=worker.connected,
        revoked_at=_time(worker.revoked_at),
    )


def registered_worker_from_pb(msg: pipeline_pb2.RegisteredWorker) -> RegisteredWorker:
    return RegisteredWorker(
        worker_id=msg.worker_id,
        name=msg.name,
        registered_at=datetime.fromisoformat(msg.registered_at),
        last_seen_at=datetime.fromisoformat(msg.last_seen_at) if msg.last_seen_at else None,
        connected=msg.connected,
        revoked_at=datetime.fromisoformat(msg.revoked_at) if msg.revoked_at else None,
    )


def _time(at: datetime | None) -> str:
    return at.isoformat() if at is not None else ""


def attempt_key(ref: worker_pb2.AttemptRef) -> AttemptKey:
    return AttemptKey(run_id=ref.run_id, job=ref.job, attempt=ref.attempt)


def attempt_ref(key: AttemptKey) -> worker_pb2.AttemptRef:
    return worker_pb2.AttemptRef(run_id=key.run_id, job=key.job, attempt=key.attempt)


_LOG_STREAMS: dict[LogStream, types_pb2.LogStream.ValueType] = {
    LogStream.STDOUT: types_pb2.LOG_STREAM_STDOUT,
    LogStream.STDERR: types_pb2.LOG_STREAM_STDERR,
    LogStream.SYSTEM: types_pb2.LOG_STREAM_SYSTEM,
}
_LOG_STREAMS_BACK = {v: k for k, v in _LOG_STREAMS.items()}


def log_stream_to_pb(stream: str) -> types_pb2.LogStream.ValueType:
    """``stream`` is a :class:`LogStream` value; anything else (output stored by an
    older version) goes as UNSPECIFIED."""
    try:
        return _LOG_STREAMS[LogStream(stream)]
    except ValueError:
        return types_pb2.LOG_STREAM_UNSPECIFIED


def log_stream_from_pb(value: types_pb2.LogStream.ValueType) -> LogStream:
    """The stream; STDOUT for UNSPECIFIED or a value this side does not know."""
    return _LOG_STREAMS_BACK.get(value, LogStream.STDOUT)


_JOB_RESULTS: dict[JobStatus, worker_pb2.JobResult.ValueType] = {
    JobStatus.SUCCESS: worker_pb2.JOB_RESULT_SUCCESS,
    JobStatus.FAILED: worker_pb2.JOB_RESULT_FAILED,
    JobStatus.CANCELED: worker_pb2.JOB_RESULT_CANCELED,
}
_JOB_RESULTS_BACK = {v: k for k, v in _JOB_RESULTS.items()}


def job_result_to_pb(status: JobStatus) -> worker_pb2.JobResult.ValueType:
    """How an attempt ended; raises ValueError for a status that is not an end a
    worker reports (SUCCESS, FAILED, CANCELED)."""
    try:
        return _JOB_RESULTS[status]
    except KeyError:
        raise ValueError(f"a worker cannot report {status}") from None


def job_result_from_pb(value: worker_pb2.JobResult.ValueType) -> JobStatus | None:
    """SUCCESS, FAILED or CANCELED; None for UNSPECIFIED or an unknown value."""
    return _JOB_RESULTS_BACK.get(value)


_FAILURE_REASONS: dict[FailureReason, worker_pb2.FailureReason.ValueType] = {
    FailureReason.SCRIPT_FAILURE: worker_pb2.FAILURE_REASON_SCRIPT_FAILURE,
    FailureReason.TIMEOUT: worker_pb2.FAILURE_REASON_TIMEOUT,
    FailureReason.IMAGE_PULL_FAILURE: worker_pb2.FAILURE_REASON_IMAGE_PULL_FAILURE,
    FailureReason.DEPENDENCY_FAILED: worker_pb2.FAILURE_REASON_DEPENDENCY_FAILED,
    FailureReason.WORKER_LOST: worker_pb2.FAILURE_REASON_WORKER_LOST,
    FailureReason.CANCELED: worker_pb2.FAILURE_REASON_CANCELED,
    FailureReason.SYSTEM_FAILURE: worker_pb2.FAILURE_REASON_SYSTEM_FAILURE,
    FailureReason.SERVICE_FAILURE: worker_pb2.FAILURE_REASON_SERVICE_FAILURE,
}
_FAILURE_REASONS_BACK = {v: k for k, v in _FAILURE_REASONS.items()}


def failure_reason_to_pb(reason: FailureReason | None) -> worker_pb2.FailureReason.ValueType:
    return _FAILURE_REASONS[reason] if reason is not None else worker_pb2.FAILURE_REASON_UNSPECIFIED


def failure_reason_from_pb(value: worker_pb2.FailureReason.ValueType) -> FailureReason | None:
    """The reason; None for UNSPECIFIED or an unknown value."""
    return _FAILURE_REASONS_BACK.get(value)


_ARTIFACT_WHEN: dict[ArtifactWhen, worker_pb2.ArtifactWhen.ValueType] = {
    ArtifactWhen.ON_SUCCESS: worker_pb2.ARTIFACT_WHEN_ON_SUCCESS,
    ArtifactWhen.ON_FAILURE: worker_pb2.ARTIFACT_WHEN_ON_FAILURE,
    ArtifactWhen.ALWAYS: worker_pb2.ARTIFACT_WHEN_ALWAYS,
}
_ARTIFACT_WHEN_BACK = {v: k for k, v in _ARTIFACT_WHEN.items()}


def artifact_when_to_pb(when: ArtifactWhen) -> worker_pb2.ArtifactWhen.ValueType:
    return _ARTIFACT_WHEN[when]


def artifact_when_from_pb(value: worker_pb2.ArtifactWhen.ValueType) -> ArtifactWhen | None:
    """ON_SUCCESS for UNSPECIFIED (the default); None for a value this side does not
    know."""
    if value == worker_pb2.ARTIFACT_WHEN_UNSPECIFIED:
        return ArtifactWhen.ON_SUCCESS
    return _ARTIFACT_WHEN_BACK.get(value)


def service_to_pb(service: Service) -> worker_pb2.ServiceSpec:
    return worker_pb2.ServiceSpec(
        image=service.name,
        aliases=list(service.aliases),
        has_entrypoint=service.entrypoint is not None,
        entrypoint=list(service.entrypoint or ()),
        has_command=service.command is not None,
        command=list(service.command or ()),
        variables=dict(service.variables),
    )


def service_from_pb(msg: worker_pb2.ServiceSpec) -> Service:
    return Service(
        name=msg.image,
        aliases=tuple(msg.aliases),
        entrypoint=tuple(msg.entrypoint) if msg.has_entrypoint else None,
        command=tuple(msg.command) if msg.has_command else None,
        variables=dict(msg.variables),
    )


def cache_to_pb(cache: Cache) -> worker_pb2.CacheSpec:
    return worker_pb2.CacheSpec(
        key=cache.key,
        key_files=list(cache.key_files),
        key_prefix=cache.key_prefix,
        paths=list(cache.paths),
        untracked=cache.untracked,
        policy=cache.policy.value,
        when=cache.when.value,
        fallback_keys=list(cache.fallback_keys),
    )


def cache_from_pb(msg: worker_pb2.CacheSpec) -> Cache:
    """Raises ValueError for a policy or ``when`` this side does not know."""
    return Cache(
        key=msg.key or "default",
        key_files=tuple(msg.key_files),
        key_prefix=msg.key_prefix,
        paths=tuple(msg.paths),
        untracked=msg.untracked,
        policy=CachePolicy(msg.policy or CachePolicy.PULL_PUSH.value),
        when=CacheWhen(msg.when or CacheWhen.ON_SUCCESS.value),
        fallback_keys=tuple(msg.fallback_keys),
    )


def secret_to_pb(secret: GivenSecret) -> worker_pb2.SecretValue:
    return worker_pb2.SecretValue(
        name=secret.name,
        variable=secret.variable,
        value=secret.value,
        file=secret.file,
        missing=secret.missing,
    )


def secret_from_pb(msg: worker_pb2.SecretValue) -> GivenSecret:
    return GivenSecret(msg.name, msg.variable or msg.name, msg.value, msg.file, msg.missing)
