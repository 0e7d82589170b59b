"""The API (:class:`~xxci.common.api.OrchestratorApi`) over gRPC: ``PipelineService``
and ``BlobService`` of an orchestrator in another process (``SecretService`` and
``CacheService`` in :mod:`.store_calls`).

Only this module knows the pipeline messages; gRPC failures become xxci errors in one
place (:meth:`GrpcClient._translated`), chained to the original; a plaintext call
that a TLS orchestrator turned away says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc

from xxci.cli.client.store_calls import StoreCalls
from xxci.common.addresses import split_addresses
from xxci.common.api import (
    LogPiece,
    Outcome,
    RegisteredWorker,
    ReportQuery,
    Submission,
    Submitted,
    VerifyResult,
)
from xxci.common.auth import open_channel
from xxci.common.blobs import upload_file
from xxci.common.closing import AsyncClosing
from xxci.common.convert import log_stream_from_pb, record_from_pb, registered_worker_from_pb
from xxci.common.errors import ConnectionFailed
from xxci.common.events import RecordedEvent
from xxci.common.pb.v1 import blob_pb2, blob_pb2_grpc, pipeline_pb2, pipeline_pb2_grpc
from xxci.common.tls_probe import explain

__all__ = ["GrpcClient"]


RESUME_SECONDS = 30.0
"""How long a followed stream keeps trying the other addresses after losing one."""
RESUME_PAUSE = 0.5

T = TypeVar("T")


class GrpcClient(StoreCalls, AsyncClosing):
    """A connection to one orchestrator, or to the first that answers of several
    sharing a store (``"a:7420,b:7420"``). Use as ``async with GrpcClient(...) as c``.

    With several addresses, a followed stream (watch, events and logs with ``follow``)
    that breaks is opened again on the next address that answers and resumes after
    the last item it yielded, for up to :data:`RESUME_SECONDS`; so are the calls that
    only read, an upload (the blob is content-addressed) and a submission (it carries
    a run id chosen here, so one sent again after its orchestrator went down
    unanswered starts one run).
    """

    def __init__(self, target: str, token: str | None = None, tls_ca: Path | None = None) -> None:
        self.target = target
        self._tls = tls_ca is not None
        self._resumable = len(split_addresses(target)) > 1
        self._channel = open_channel(target, token, tls_ca)
        self._stub = pipeline_pb2_grpc.PipelineServiceStub(self._channel)
        self._blobs = blob_pb2_grpc.BlobServiceStub(self._channel)

    async def close(self) -> None:
        await self._channel.close(None)

    @contextlib.asynccontextmanager
    async def _translated(self) -> AsyncIterator[None]:
        """A failed call raises the xxci error it means (see ``tls_probe.explain``)."""
        try:
            yield
        except grpc.aio.AioRpcError as err:
            raise await explain(err, self.target, tls=self._tls) from err

    async def _again_on_failover(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call()``, made again on the next address while it fails to connect
        (several addresses only, for up to :data:`RESUME_SECONDS`). Only for calls
        that mean the same when made twice."""
        deadline = None
        while True:
            try:
                async with self._translated():
                    return await call()
            except ConnectionFailed:
                deadline = await self._again(deadline, self._resumable)
                if deadline is None:
                    raise

    async def upload_source(self, path: Path) -> str:
        return await self._again_on_failover(lambda: upload_file(self._channel, path))

    async def submit(self, submission: Submission) -> Submitted:
        run_id = submission.run_id or uuid.uuid4().hex[:12]
        request = pipeline_pb2.SubmitRunRequest(
            file_name=submission.file_name,
            yaml_text=submission.yaml_text,
            overrides=list(submission.overrides),
            repo=submission.repo,
            branch=submission.branch,
            commit=submission.commit,
            source_blob=submission.source_blob,
            run_id=run_id,
        )
        if submission.context is not None:
            context = submission.context
            request.pipeline_source = context.source
            request.default_branch = context.default_branch
            request.tag = context.tag
            request.commit_message = context.commit_message
            request.variables.update(context.variables)
            request.changed_files.extend(context.changed_files or ())
            request.changes_known = context.changed_files is not None
            request.project = context.project
        reply = await self._again_on_failover(lambda: self._stub.SubmitRun(request))
        return Submitted(reply.run_id, reply.pipeline, reply.number)

    async def watch(self, run: str) -> AsyncGenerator[RecordedEvent, None]:
        version, deadline = 0, None
        while True:
            try:
                async with self._translated():
                    request = pipeline_pb2.WatchRunRequest(run_id=run)
                    async for msg in self._stub.WatchRun(request):
                        rec = record_from_pb(msg)
                        if rec.version > version:  # a resumed watch replays from the start
                            version = rec.version
                            yield rec
                return
            except ConnectionFailed:
                deadline = await self._again(deadline, self._resumable)
                if deadline is None:
                    raise

    async def events(
        self, run: str = "", since_seq: int = 0, follow: bool = False
    ) -> AsyncGenerator[RecordedEvent, None]:
        deadline = None
        while True:
            request = pipeline_pb2.GetEventsRequest(run_id=run, since_seq=since_seq, follow=follow)
            try:
                async with self._translated():
                    async for msg in self._stub.GetEvents(request):
                        rec = record_from_pb(msg)
                        since_seq = rec.seq
                        yield rec
                return
            except ConnectionFailed:
                deadline = await self._again(deadline, self._resumable and follow)
                if deadline is None:
                    raise

    async def logs(
        self, run: str, job: str, attempt: int = 0, follow: bool = False, service: str = ""
    ) -> AsyncGenerator[LogPiece, None]:
        seen: dict[int, int] = {}  # attempt -> the last seq yielded
        deadline = None
        while True:
            request = pipeline_pb2.StreamLogsRequest(
                run_id=run, job=job, attempt=attempt, follow=follow, service=service
            )
            try:
                async with self._translated():
                    async for msg in self._stub.StreamLogs(request):
                        if msg.seq <= seen.get(msg.attempt, 0):
                            continue  # yielded before the stream was resumed
                        seen[msg.attempt] = msg.seq
                        stream = log_stream_from_pb(msg.stream)
                        yield LogPiece(msg.attempt, msg.seq, stream, msg.data)
                return
            except ConnectionFailed:
                deadline = await self._again(deadline, self._resumable and follow)
                if deadline is None:
                    raise

    async def _again(self, deadline: float | None, resumable: bool) -> float | None:
        """After a followed stream broke: the deadline to keep trying by (after a
        pause), or None to give up (one address only, or out of time)."""
        now = asyncio.get_running_loop().time()
        deadline = deadline if deadline is not None else now + RESUME_SECONDS
        if not resumable or now > deadline:
            return None
        await asyncio.sleep(RESUME_PAUSE)
        return deadline

    async def cancel(self, run: str, job: str = "") -> Outcome:
        async with self._translated():
            reply = await self._stub.CancelRun(pipeline_pb2.CancelRunRequest(run_id=run, job=job))
        return Outcome(reply.accepted, reply.message)

    async def report(self, query: ReportQuery) -> dict[str, Any]:
        request = pipeline_pb2.QueryRunsRequest(
            repo=query.repo,
            pipeline=query.pipeline,
            run_number=query.run,
            stage=query.stage,
            job=query.job,
            at_seq=query.at_seq,
            limit=query.last,
            branch=query.branch,
            status=query.status,
            skip=query.skip,
            stages=query.stages,
        )
        return _document(await self._again_on_failover(lambda: self._stub.QueryRuns(request)))

    async def run_report(self, run: str, at_seq: int = 0) -> dict[str, Any]:
        request = pipeline_pb2.GetRunRequest(run_id=run, at_seq=at_seq)
        return _document(await self._again_on_failover(lambda: self._stub.GetRun(request)))

    async def status(self) -> dict[str, Any]:
        request = pipeline_pb2.GetStatusRequest()
        return _document(await self._again_on_failover(lambda: self._stub.GetStatus(request)))

    async def play(self, run: str, job: str) -> Outcome:
        async with self._translated():
            reply = await self._stub.PlayJob(pipeline_pb2.PlayJobRequest(run_id=run, job=job))
        return Outcome(reply.accepted, reply.message)

    async def verify(self, anchor: str = "") -> VerifyResult:
        request = pipeline_pb2.VerifyRequest(anchor=anchor)
        reply = await self._again_on_failover(lambda: self._stub.Verify(request))
        return VerifyResult.from_dict(_document(reply))

    async def pipelines(self) -> list[str]:
        async with self._translated():
            head = await self._stub.GetLogHead(pipeline_pb2.GetLogHeadRequest())
        return list(head.pipelines)

    async def last_seq(self) -> int:
        async with self._translated():
            head = await self._stub.GetLogHead(pipeline_pb2.GetLogHeadRequest())
        return head.last_seq

    async def workers(self) -> list[RegisteredWorker]:
        async with self._translated():
            reply = await self._stub.ListWorkers(pipeline_pb2.ListWorkersRequest())
        return [registered_worker_from_pb(w) for w in reply.workers]

    async def revoke_worker(self, worker_id: str) -> Outcome:
        async with self._translated():
            request = pipeline_pb2.RevokeWorkerRequest(worker_id=worker_id)
            reply = await self._stub.RevokeWorker(request)
        return Outcome(reply.accepted, reply.message)

    async def blob(self, digest: str) -> AsyncGenerator[bytes, None]:
        async with self._translated():
            async for chunk in self._blobs.Download(blob_pb2.BlobRef(digest=digest)):
                yield chunk.data


def _document(reply: pipeline_pb2.ReportResponse) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(reply.json)
    return doc
