"""The worker stream's protobuf, on the orchestrator's side, and nothing else.

:func:`to_pb` turns a :data:`~xxci.orchestrator.domain.messages.Command` into the
``OrchestratorMessage`` that carries it; :func:`from_pb` turns a ``WorkerMessage`` into
its :data:`~xxci.orchestrator.domain.messages.WorkerMessage` and the number the worker
gave it (``seq``, 0 when it numbers none). Reading is lenient where the proto says so:
a result it does not know counts as FAILED, a stream it does not know as stdout.
"""

from __future__ import annotations

from xxci.common.convert import (
    artifact_when_to_pb,
    attempt_key,
    attempt_ref,
    cache_to_pb,
    failure_reason_from_pb,
    job_result_from_pb,
    log_stream_from_pb,
    secret_to_pb,
    service_to_pb,
    time_from_pb,
)
from xxci.common.pb.v1 import worker_pb2
from xxci.common.status import JobStatus
from xxci.orchestrator.domain.messages import (
    Accepted,
    Ack,
    Assign,
    Cancel,
    Command,
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

__all__ = ["from_pb", "hello_from_pb", "to_pb"]


def to_pb(command: Command) -> worker_pb2.OrchestratorMessage:
    match command:
        case Welcome():
            welcome = worker_pb2.Welcome(
                worker_id=command.worker_id,
                heartbeat_interval_seconds=command.heartbeat_interval,
                lease_ttl_seconds=command.lease_ttl,
            )
            return worker_pb2.OrchestratorMessage(welcome=welcome)
        case Assign():
            return worker_pb2.OrchestratorMessage(assign=_assign_job(command))
        case Cancel():
            cancel = worker_pb2.CancelJob(
                ref=attempt_ref(command.key),
                grace_seconds=command.grace_seconds,
                reason=command.reason,
                revoke=command.revoke,
            )
            return worker_pb2.OrchestratorMessage(cancel=cancel)
        case Ack():
            ack = worker_pb2.Ack(ref=attempt_ref(command.key), through=command.through)
            return worker_pb2.OrchestratorMessage(ack=ack)


def _assign_job(command: Assign) -> worker_pb2.AssignJob:
    return worker_pb2.AssignJob(
        ref=attempt_ref(command.key),
        stage=command.stage,
        image=command.image,
        script=list(command.script),
        variables=dict(command.variables),
        timeout_seconds=command.timeout_seconds,
        source_blob=command.source_blob,
        artifact_blobs=list(command.artifact_blobs),
        artifact_paths=list(command.artifact_paths),
        artifact_when=artifact_when_to_pb(command.artifact_when),
        after_script=list(command.after_script),
        entrypoint=list(command.entrypoint),
        image_entrypoint=command.image_entrypoint,
        prefer_bash=command.prefer_bash,
        artifact_exclude=list(command.artifact_exclude),
        artifact_untracked=command.artifact_untracked,
        output_limit_bytes=command.output_limit,
        artifact_limit_bytes=command.artifact_limit,
        services=[service_to_pb(s) for s in command.services],
        caches=[cache_to_pb(c) for c in command.caches],
        cache_scope=command.cache_scope,
        secrets=[secret_to_pb(s) for s in command.secrets],
        masked_values=list(command.masked_values),
    )


def hello_from_pb(msg: worker_pb2.Hello) -> Hello:
    return Hello(
        name=msg.name,
        capacity=msg.capacity,
        labels=tuple(msg.labels),
        version=msg.version,
        running=tuple(attempt_key(ref) for ref in msg.running),
        worker_id=msg.worker_id,
        sent_at=time_from_pb(msg.sent_at) if msg.HasField("sent_at") else None,
    )


def from_pb(msg: worker_pb2.WorkerMessage) -> tuple[WorkerMessage, int] | None:
    """The message and its ``seq``; None for a kind this orchestrator does not know."""
    message: WorkerMessage
    match msg.WhichOneof("kind"):
        case "hello":
            message = hello_from_pb(msg.hello)
        case "heartbeat":
            h = msg.heartbeat
            sent_at = time_from_pb(h.sent_at) if h.HasField("sent_at") else None
            message = Heartbeat(tuple(attempt_key(ref) for ref in h.running), sent_at)
        case "draining":
            message = Draining()
        case "reject":
            message = Rejected(attempt_key(msg.reject.ref), msg.reject.reason)
        case "accept":
            message = Accepted(attempt_key(msg.accept.ref))
        case "job_started":
            s = msg.job_started
            at = time_from_pb(s.started_at) if s.HasField("started_at") else None
            message = Started(attempt_key(s.ref), s.container, s.image_digest, at)
        case "log_chunk":
            c = msg.log_chunk
            stream = log_stream_from_pb(c.stream)
            message = Output(attempt_key(c.ref), c.seq, stream, c.data, c.service)
        case "step_finished":
            e = msg.step_finished
            at = time_from_pb(e.finished_at) if e.HasField("finished_at") else None
            message = StepEnded(attempt_key(e.ref), e.index, e.exit_code, at)
        case "job_finished":
            message = _job_report(msg.job_finished)
        case _:
            return None
    return message, msg.seq


def _job_report(msg: worker_pb2.JobFinished) -> JobReport:
    return JobReport(
        key=attempt_key(msg.ref),
        status=job_result_from_pb(msg.status) or JobStatus.FAILED,
        exit_code=msg.exit_code if msg.HasField("exit_code") else None,
        failure_reason=failure_reason_from_pb(msg.failure_reason),
        message=msg.message,
        artifacts_blob=msg.artifacts_blob,
        at=time_from_pb(msg.finished_at) if msg.HasField("finished_at") else None,
        output_cut=msg.output_cut,
        artifacts_cut=msg.artifacts_cut,
    )
