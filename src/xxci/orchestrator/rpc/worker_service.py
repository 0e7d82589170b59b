"""``WorkerService.Connect``: the orchestrator's end of a worker's stream.

Protobuf stays here: each message is checked against the run's current attempt and
turned into a domain event (or a log chunk). A message about an attempt that is not
current is recorded as ``MessageRejected`` on the worker's stream and never applied.

Delivery: the worker keeps every attempt message until it is acknowledged (see
:mod:`xxci.orchestrator.rpc.acks`), and after a reconnect sends again those that were not,
so some arrive twice. A repeat is harmless: a log chunk is stored once by its key, and
a JobStarted, StepFinished or JobFinished whose fact the run already holds is ignored
(not appended, not recorded as rejected). Every attempt message is acknowledged once
handled, a rejected one too, so the worker stops sending it. A message whose handling
fails is not: the stream is ended instead, and the worker sends it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import grpc

from xxci.common.convert import (
    attempt_key,
    failure_reason_from_pb,
    job_result_from_pb,
    log_stream_from_pb,
)
from xxci.common.errors import NotFoundError
from xxci.common.events import (
    Event,
    JobAttemptLost,
    JobFinished,
    JobStarted,
    MessageRejected,
    StepFinished,
)
from xxci.common.pb.v1 import worker_pb2, worker_pb2_grpc
from xxci.common.status import FailureReason, JobStatus
from xxci.orchestrator.domain.lookup import is_current, repeats_finish, repeats_start, repeats_step
from xxci.orchestrator.domain.results import failure_allowed
from xxci.orchestrator.domain.state import RunState
from xxci.orchestrator.rpc.acks import AckBatcher
from xxci.orchestrator.runtime.hub import Hub, WorkerSession
from xxci.orchestrator.runtime.runs import RunBook
from xxci.orchestrator.store import LogStore

log = logging.getLogger("xxci.orchestrator")

_ATTEMPT_MESSAGES = frozenset(
    {"accept", "job_started", "log_chunk", "step_finished", "job_finished"}
)
"""The messages a worker numbers (``WorkerMessage.seq``) and keeps until acknowledged."""


class HandlingFailed(Exception):
    """A worker message could not be handled; its stream is ended unacknowledged."""


def finished_event(state: RunState, msg: worker_pb2.JobFinished) -> JobFinished:
    """The ``JobFinished`` event for a worker's report, with allow_failure applied."""
    status = job_result_from_pb(msg.status) or JobStatus.FAILED
    exit_code = msg.exit_code if msg.HasField("exit_code") else None
    reason = failure_reason_from_pb(msg.failure_reason)
    if status is JobStatus.FAILED and reason is None:
        reason = FailureReason.SYSTEM_FAILURE
    if status is JobStatus.CANCELED:
        reason = FailureReason.CANCELED
    allowed = status is JobStatus.FAILED and failure_allowed(
        state.pipeline.job(msg.ref.job), reason, exit_code
    )
    return JobFinished(
        job=msg.ref.job,
        attempt=msg.ref.attempt,
        status=status.value,
        exit_code=exit_code,
        failure_reason=reason.value if reason and status is not JobStatus.SUCCESS else "",
        allowed=allowed,
        message=msg.message,
        artifacts_blob=msg.artifacts_blob,
    )


class WorkerServicer(worker_pb2_grpc.WorkerServiceServicer):
    def __init__(self, runs: RunBook, hub: Hub, logs: LogStore) -> None:
        self._runs = runs
        self._hub = hub
        self._logs = logs

    async def Connect(
        self,
        request_iterator: AsyncIterator[worker_pb2.WorkerMessage],
        context: grpc.aio.ServicerContext[worker_pb2.WorkerMessage, worker_pb2.OrchestratorMessage],
    ) -> AsyncIterator[worker_pb2.OrchestratorMessage]:
        try:
            first = await anext(request_iterator)
        except StopAsyncIteration:
            return
        if first.WhichOneof("kind") != "hello":
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION, "the first message must be Hello"
            )
        session = await self._hub.connect(first.hello, context.peer())
        log.info(
            "worker %s connected as %s (capacity %d, labels %s)",
            session.name,
            session.worker_id,
            session.capacity,
            sorted(session.labels) or "-",
        )
        acks = AckBatcher(session.send)
        acker = asyncio.create_task(acks.run())
        reader = asyncio.create_task(self._read(request_iterator, session, acks))
        reason = "stream closed"
        try:
            yield worker_pb2.OrchestratorMessage(
                welcome=worker_pb2.Welcome(
                    worker_id=session.worker_id,
                    heartbeat_interval_seconds=self._hub.settings.heartbeat_interval,
                    lease_ttl_seconds=self._hub.settings.lease_ttl,
                )
            )
            while True:
                getter = asyncio.create_task(session.outbox.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await getter
                    exc = reader.exception()
                    if isinstance(exc, HandlingFailed):
                        reason = str(exc)
                    else:
                        reason = f"stream error: {exc}" if exc else "worker closed the stream"
                    break
                message = getter.result()
                if message is None:
                    reason = session.close_reason
                    break
                yield message
        finally:
            reader.cancel()
            acker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            with contextlib.suppress(asyncio.CancelledError):
                await acker
            await self._hub.disconnect(session, reason)
            log.info("worker %s disconnected: %s", session.name, reason)

    async def _read(
        self,
        requests: AsyncIterator[worker_pb2.WorkerMessage],
        session: WorkerSession,
        acks: AckBatcher,
    ) -> None:
        async for message in requests:
            kind = message.WhichOneof("kind")
            try:
                await self._handle(message, session)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.exception("handling a message from worker %s failed", session.name)
                raise HandlingFailed(f"could not handle a {kind} message: {err}") from err
            if kind in _ATTEMPT_MESSAGES:
                ref = getattr(message, kind).ref
                acks.handled(ref, message.seq, now=kind == "job_finished")

    async def _handle(self, message: worker_pb2.WorkerMessage, session: WorkerSession) -> None:
        kind = message.WhichOneof("kind")
        if kind == "heartbeat":
            self._hub.heartbeat(session, [attempt_key(r) for r in message.heartbeat.running])
        elif kind == "log_chunk":
            chunk = message.log_chunk
            if chunk.seq < 1 or chunk.ref.attempt < 1:
                await self._reject(session, chunk.ref, kind, "log chunk without a seq or attempt")
                return
            await self._logs.append(
                chunk.ref.run_id,
                chunk.ref.job,
                chunk.ref.attempt,
                chunk.seq,
                log_stream_from_pb(chunk.stream),
                chunk.data,
            )
        elif kind == "accept":
            pass
        elif kind == "reject":
            ref = message.reject.ref
            self._hub.release(attempt_key(ref))
            await self._apply(
                session,
                ref,
                "reject",
                lambda _s: [
                    JobAttemptLost(
                        job=ref.job,
                        attempt=ref.attempt,
                        reason=f"rejected: {message.reject.reason}",
                    )
                ],
            )
        elif kind == "job_started":
            m = message.job_started
            await self._apply(
                session,
                m.ref,
                kind,
                lambda _s: [
                    JobStarted(
                        job=m.ref.job,
                        attempt=m.ref.attempt,
                        container=m.container,
                        image_digest=m.image_digest,
                    )
                ],
                repeat=lambda st: repeats_start(st, m.ref.job, m.ref.attempt, session.worker_id),
            )
        elif kind == "step_finished":
            s = message.step_finished
            await self._apply(
                session,
                s.ref,
                kind,
                lambda _s: [
                    StepFinished(
                        job=s.ref.job, attempt=s.ref.attempt, index=s.index, exit_code=s.exit_code
                    )
                ],
                repeat=lambda st: repeats_step(
                    st, s.ref.job, s.ref.attempt, session.worker_id, s.index, s.exit_code
                ),
            )
        elif kind == "job_finished":
            f = message.job_finished
            # Free the slot first: the job ends by the worker's word, nothing to stop.
            self._hub.release(attempt_key(f.ref))
            await self._apply(
                session,
                f.ref,
                kind,
                lambda st: [finished_event(st, f)],
                repeat=lambda st: repeats_finish(st, finished_event(st, f), session.worker_id),
            )
        elif kind == "draining":
            self._hub.set_draining(session)
        elif kind == "hello":
            log.warning("worker %s sent a second Hello; ignored", session.name)

    async def _apply(
        self,
        session: WorkerSession,
        ref: worker_pb2.AttemptRef,
        what: str,
        make: Callable[[RunState], list[Event]],
        repeat: Callable[[RunState], bool] | None = None,
    ) -> None:
        """Append ``make(state)`` if ``ref`` is the job's current, unfinished attempt;
        ignore it if ``repeat(state)`` (it was applied already: the worker sent it again);
        otherwise record it as rejected. ``repeat`` is only asked about a job the run
        has."""
        rejected: list[str] = []

        def guarded(state: RunState) -> list[Event]:
            if repeat is not None and ref.job in state.jobs and repeat(state):
                return []
            if not is_current(state, ref.job, ref.attempt, session.worker_id):
                js = state.jobs.get(ref.job)
                if js is None:
                    rejected.append("no such job")
                elif js.attempt != ref.attempt:
                    rejected.append(f"attempt {ref.attempt} is not current (current: {js.attempt})")
                elif js.worker_id != session.worker_id:
                    rejected.append("the attempt is not assigned to this worker")
                else:
                    rejected.append(f"the job is {js.status.value}")
                return []
            return make(state)

        try:
            await self._runs.record_if(ref.run_id, guarded)
        except NotFoundError:
            rejected.append("no such run")
        if rejected:
            await self._reject(session, ref, what, rejected[0])

    async def _reject(
        self, session: WorkerSession, ref: worker_pb2.AttemptRef, what: str, reason: str
    ) -> None:
        log.info(
            "rejected %s from %s for %s/%s#%d: %s",
            what,
            session.name,
            ref.run_id,
            ref.job,
            ref.attempt,
            reason,
        )
        await self._hub.record_worker_event(
            session.worker_id,
            MessageRejected(
                worker_id=session.worker_id,
                run_id=ref.run_id,
                job=ref.job,
                attempt=ref.attempt,
                message=what,
                reason=reason,
            ),
        )
