"""``WorkerService``: the orchestrator's end of a worker's stream, and registration.

A stream is admitted as the registered worker whose credential it presents (see
:mod:`xxci.orchestrator.rpc.worker_admission`), and as no other.

The stream's protobuf is converted at once (:mod:`xxci.orchestrator.rpc.worker_wire`);
each message goes, as a plain value, to its handler in a table by type. A message
about an attempt is checked against the run's current attempt and turned into a domain
event (or a log chunk); one about an attempt that is not current is recorded as
``MessageRejected`` on the worker's stream and never applied.

A worker speaks only for the attempts it was given, and only over its current
connection. A message about anyone else's attempt (or one of a run that does not
exist), or one that arrives on a stream the worker has since replaced, is rejected
before it has any effect: no output stored, no lease released, no slot freed. A
worker's report of how an attempt ended frees its slot only when the attempt is its
own. A JobFinished naming artifacts the orchestrator does not hold ends the attempt
as a ``system_failure`` (its dependents would otherwise run without them).

Delivery: the worker keeps every attempt message until it is acknowledged (see
:mod:`xxci.orchestrator.rpc.acks`), and after a reconnect sends again those that were
not, so some arrive twice. A repeat is harmless: a log chunk is stored once by its
key, and a JobStarted, StepFinished or JobFinished whose fact the run already holds is
ignored (not appended, not recorded as rejected). Every attempt message is
acknowledged once handled, a rejected one too, so the worker stops sending it. A
message whose handling fails is not: the stream is ended instead, and the worker sends
it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import grpc

from xxci.common.attempts import AttemptKey
from xxci.common.clock import SYSTEM_CLOCK, Clock
from xxci.common.errors import NotFoundError, XxciError
from xxci.common.events import Event, JobAttemptLost, JobStarted, MessageRejected, StepFinished
from xxci.common.job_extras import service_stream
from xxci.common.pb.v1 import worker_pb2, worker_pb2_grpc
from xxci.common.status import FailureReason, JobStatus
from xxci.orchestrator.domain.lookup import (
    assigned_to,
    is_current,
    repeats_finish,
    repeats_start,
    repeats_step,
)
from xxci.orchestrator.domain.messages import (
    ATTEMPT_MESSAGES,
    Accepted,
    AttemptMessage,
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
from xxci.orchestrator.domain.results import coverage_figure, finished_event
from xxci.orchestrator.domain.state import RunState
from xxci.orchestrator.domain.worker_time import stamp_text
from xxci.orchestrator.rpc import worker_wire
from xxci.orchestrator.rpc.acks import AckBatcher
from xxci.orchestrator.rpc.worker_admission import admitted, register
from xxci.orchestrator.runtime.hub import Hub
from xxci.orchestrator.runtime.identities import Identities
from xxci.orchestrator.runtime.runs import RunBook
from xxci.orchestrator.runtime.sessions import WorkerSession
from xxci.orchestrator.store import BlobStorage, LogStorage

log = logging.getLogger("xxci.orchestrator")

ABOUT_ATTEMPTS = (*ATTEMPT_MESSAGES, Rejected)

Handler = Callable[[Any, WorkerSession], Awaitable[None]]

NOT_CURRENT_CONNECTION = "sent over a connection that is not the worker's current one"


class HandlingFailed(Exception):
    """A worker message could not be handled; its stream is ended unacknowledged."""


class WorkerServicer(worker_pb2_grpc.WorkerServiceServicer):
    def __init__(
        self,
        runs: RunBook,
        hub: Hub,
        identities: Identities,
        logs: LogStorage,
        blobs: BlobStorage,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._runs = runs
        self._hub = hub
        self._identities = identities
        self._logs = logs
        self._blobs = blobs
        self._clock = clock
        self._handlers: dict[type[WorkerMessage], Handler] = {
            Heartbeat: self._heartbeat,
            Output: self._output,
            Accepted: self._accepted,
            Rejected: self._rejected,
            Started: self._started,
            StepEnded: self._step_ended,
            JobReport: self._job_report,
            Draining: self._draining,
            Hello: self._second_hello,
        }

    async def Connect(
        self,
        request_iterator: AsyncIterator[worker_pb2.WorkerMessage],
        context: grpc.aio.ServicerContext[worker_pb2.WorkerMessage, worker_pb2.OrchestratorMessage],
    ) -> AsyncIterator[worker_pb2.OrchestratorMessage]:
        try:
            first = await anext(request_iterator)
        except StopAsyncIteration:
            return
        received = self._clock.now()  # before admission: its reads are no transit time
        if first.WhichOneof("kind") != "hello":
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION, "the first message must be Hello"
            )
        hello = worker_wire.hello_from_pb(first.hello)
        peer = context.peer()
        worker_id = await admitted(self._identities, hello, context)
        session = await self._hub.connect(worker_id, hello, peer, received)
        session.last_seen = self._clock.now()
        await self._identities.seen(worker_id, session.name)
        if await self._identities.revoked(worker_id):
            session.close("credential revoked")  # while it was being admitted
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
        settings = self._hub.settings
        try:
            yield worker_wire.to_pb(
                Welcome(session.worker_id, settings.heartbeat_interval, settings.lease_ttl)
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
                command = getter.result()
                if command is None:
                    reason = session.close_reason
                    break
                yield worker_wire.to_pb(command)
        finally:
            reader.cancel()
            acker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            with contextlib.suppress(asyncio.CancelledError):
                await acker
            await self._hub.disconnect(session, reason)
            await self._last_seen(session)
            log.info("worker %s disconnected: %s", session.name, reason)

    async def _last_seen(self, session: WorkerSession) -> None:
        """Keep when the worker was last heard from (best effort: when the
        orchestrator stops, its stores may close before its streams end)."""
        if session.last_seen is None:
            return
        try:
            await self._identities.seen(session.worker_id, at=session.last_seen)
        except Exception as err:
            log.warning("could not note when worker %s was last seen: %s", session.name, err)

    async def Register(
        self,
        request: worker_pb2.RegisterRequest,
        context: grpc.aio.ServicerContext[worker_pb2.RegisterRequest, worker_pb2.RegisterResponse],
    ) -> worker_pb2.RegisterResponse:
        return await register(self._identities, request, context)

    async def _read(
        self,
        requests: AsyncIterator[worker_pb2.WorkerMessage],
        session: WorkerSession,
        acks: AckBatcher,
    ) -> None:
        async for raw in requests:
            read = worker_wire.from_pb(raw)
            if read is None:
                log.debug("ignoring a message of an unknown kind from %s", session.name)
                continue
            message, seq = read
            session.last_seen = self._clock.now()
            await self._handle(seq, message, session)
            if isinstance(message, ATTEMPT_MESSAGES):
                acks.handled(message.key, seq, now=isinstance(message, JobReport))

    async def _handle(self, seq: int, message: WorkerMessage, session: WorkerSession) -> None:
        """Handle message ``seq`` (0 if unnumbered) of the worker's stream; raises
        HandlingFailed if its handler fails."""
        try:
            if not self._hub.is_current(session):
                # Replaced by a newer stream, or closed: whatever it still says is void.
                if isinstance(message, ABOUT_ATTEMPTS):
                    await self._reject(session, message, NOT_CURRENT_CONNECTION)
                return
            await self._handlers[type(message)](message, session)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            log.exception("handling %s #%d from worker %s failed", message.kind, seq, session.name)
            raise HandlingFailed(f"could not handle a {message.kind} message: {err}") from err

    # --- the handlers, one per kind of message ---------------------------------------

    async def _heartbeat(self, message: Heartbeat, session: WorkerSession) -> None:
        self._hub.heartbeat(session, message.running, message.sent_at)

    async def _draining(self, message: Draining, session: WorkerSession) -> None:
        self._hub.set_draining(session)

    async def _second_hello(self, message: Hello, session: WorkerSession) -> None:
        log.warning("worker %s sent a second Hello; ignored", session.name)

    async def _accepted(self, message: Accepted, session: WorkerSession) -> None:
        # The assignment is recorded already; the Accept is only acknowledged.
        why = await self._not_given(session, message.key)
        if why:
            await self._reject(session, message, why)

    async def _output(self, chunk: Output, session: WorkerSession) -> None:
        key = chunk.key
        if chunk.seq < 1 or key.attempt < 1:
            await self._reject(session, chunk, "log chunk without a seq or attempt")
            return
        why = await self._not_given(session, key)
        if why:
            await self._reject(session, chunk, why)
            return
        at = self._clock.now()
        stream = service_stream(chunk.service) if chunk.service else chunk.stream
        await self._logs.append(key.run_id, key.job, key.attempt, chunk.seq, stream, chunk.data, at)

    async def _rejected(self, message: Rejected, session: WorkerSession) -> None:
        key = message.key
        self._release_own(session, key)
        lost = JobAttemptLost(
            job=key.job, attempt=key.attempt, reason=f"rejected: {message.reason}"
        )
        await self._apply(session, message, lambda _state: [lost])

    async def _started(self, message: Started, session: WorkerSession) -> None:
        key = message.key
        event = JobStarted(
            job=key.job,
            attempt=key.attempt,
            container=message.container,
            image_digest=message.image_digest,
            worker_at=stamp_text(message.at),
            clock_offset=session.clock_offset.seconds,
        )
        await self._apply(
            session,
            message,
            lambda _state: [event],
            repeat=lambda st: repeats_start(st, key.job, key.attempt, session.worker_id),
        )

    async def _step_ended(self, message: StepEnded, session: WorkerSession) -> None:
        key, index, code = message.key, message.index, message.exit_code
        event = StepFinished(
            job=key.job,
            attempt=key.attempt,
            index=index,
            exit_code=code,
            worker_at=stamp_text(message.at),
            clock_offset=session.clock_offset.seconds,
        )
        await self._apply(
            session,
            message,
            lambda _state: [event],
            repeat=lambda st: repeats_step(
                st, key.job, key.attempt, session.worker_id, index, code
            ),
        )

    async def _job_report(self, report: JobReport, session: WorkerSession) -> None:
        # Free the slot first: the job ends by the worker's word, nothing to stop.
        self._release_own(session, report.key)
        report = await self._with_held_artifacts(report)
        offset = session.clock_offset.seconds
        coverage = await self._coverage(report)
        await self._apply(
            session,
            report,
            lambda st: [finished_event(st, report, offset, coverage)],
            repeat=lambda st: repeats_finish(st, finished_event(st, report), session.worker_id),
        )

    async def _coverage(self, report: JobReport) -> str:
        """The figure the job's ``coverage`` regex finds in the attempt's log."""
        key = report.key
        try:
            state = await self._runs.get(key.run_id)
        except XxciError:
            return ""
        spec = state.specs.get(key.job)
        if spec is None or not spec.coverage:
            return ""
        chunks = await self._logs.read(key.run_id, key.job, key.attempt)
        # The whole log, as GitLab reads its trace: the "$ command" lines too.
        log = b"".join(c.data for c in chunks).decode(errors="replace")
        return coverage_figure(spec.coverage, log)

    # --- whose attempt it is ------------------------------------------------------------

    async def _not_given(self, session: WorkerSession, key: AttemptKey) -> str:
        """Why the session's worker may not speak for ``key`` ("" if it may)."""
        if self._hub.owner_of(key) == session.worker_id:
            return ""  # it holds the attempt now: the usual case, asked of memory only
        try:
            state = await self._runs.get(key.run_id)
        except NotFoundError:
            return "no such run"
        return assigned_to(state, key.job, key.attempt, session.worker_id)

    def _release_own(self, session: WorkerSession, key: AttemptKey) -> None:
        """The worker says ``key`` ended: free its slot, if the attempt is its own."""
        if self._hub.owner_of(key) == session.worker_id:
            self._hub.release(key)

    async def _with_held_artifacts(self, report: JobReport) -> JobReport:
        """``report``, or a system failure if it names artifacts this orchestrator does
        not hold (never uploaded, or not a digest at all)."""
        digest = report.artifacts_blob
        if not digest:
            return report
        try:
            held = await self._blobs.stat(digest) is not None
        except ValueError:
            problem = f"reported artifacts {digest!r}, which is not a blob digest"
        else:
            if held:
                return report
            problem = f"reported artifacts {digest} that were never uploaded"
        return replace(
            report,
            status=JobStatus.FAILED,
            failure_reason=FailureReason.SYSTEM_FAILURE,
            message=f"the worker {problem}",
            artifacts_blob="",
        )

    # --- applying a message to its run -------------------------------------------------

    async def _apply(
        self,
        session: WorkerSession,
        message: Rejected | Started | StepEnded | JobReport,
        make: Callable[[RunState], list[Event]],
        repeat: Callable[[RunState], bool] | None = None,
    ) -> None:
        """Append ``make(state)`` if the message's attempt is the job's current,
        unfinished one; ignore it if ``repeat(state)`` (it was applied already: the
        worker sent it again); otherwise record it as rejected. ``repeat`` is only asked
        about a job the run has."""
        key = message.key
        rejected: list[str] = []

        def guarded(state: RunState) -> list[Event]:
            if repeat is not None and key.job in state.jobs and repeat(state):
                return []
            if not is_current(state, key.job, key.attempt, session.worker_id):
                rejected.append(_why_not_current(state, key, session.worker_id))
                return []
            return make(state)

        try:
            await self._runs.record_if(key.run_id, guarded)
        except NotFoundError:
            rejected.append("no such run")
        if rejected:
            await self._reject(session, message, rejected[0])

    async def _reject(
        self,
        session: WorkerSession,
        message: Rejected | AttemptMessage,
        reason: str,
    ) -> None:
        key = message.key
        log.info("rejected %s from %s for %s: %s", message.kind, session.name, key, reason)
        await self._hub.record_worker_event(
            session.worker_id,
            MessageRejected(
                worker_id=session.worker_id,
                run_id=key.run_id,
                job=key.job,
                attempt=key.attempt,
                message=message.kind,
                reason=reason,
            ),
        )


def _why_not_current(state: RunState, key: AttemptKey, worker_id: str) -> str:
    js = state.jobs.get(key.job)
    if js is None:
        return "no such job"
    if js.attempt != key.attempt:
        return f"attempt {key.attempt} is not current (current: {js.attempt})"
    if js.worker_id != worker_id:
        return "the attempt is not assigned to this worker"
    return f"the job is {js.status.value}"
