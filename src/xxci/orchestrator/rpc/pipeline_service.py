"""``PipelineService``: the application service (:class:`OrchestratorApi`) over gRPC.

Each method converts its request to one call of the API, and the answer (or the
error) back: NotFoundError is NOT_FOUND, ConflictError ABORTED, any other
:class:`XxciError` INVALID_ARGUMENT with its message, which the client's
``translate_rpc_error`` turns back into the same error.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc

from xxci.common.api import OrchestratorApi, ReportQuery, Submission
from xxci.common.convert import log_stream_to_pb, record_to_pb, registered_worker_to_pb
from xxci.common.errors import ConflictError, NotFoundError, XxciError
from xxci.common.pb.v1 import pipeline_pb2, pipeline_pb2_grpc
from xxci.common.spec.context import RunContext

Context = grpc.aio.ServicerContext[Any, Any]


def _code(err: XxciError) -> grpc.StatusCode:
    if isinstance(err, NotFoundError):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(err, ConflictError):
        return grpc.StatusCode.ABORTED
    return grpc.StatusCode.INVALID_ARGUMENT


MAX_DETAILS = 8 * 1024
"""An error's text travels in the call's trailing metadata, which gRPC caps at 16 KiB;
past this, the text is cut at a line and says how many lines were left out."""


def details(err: XxciError) -> str:
    """The text of ``err`` for the wire: whole, or its first lines within MAX_DETAILS."""
    text = str(err)
    if len(text.encode()) <= MAX_DETAILS:
        return text
    lines = text.splitlines()
    kept: list[str] = []
    size = 0
    for line in lines:
        size += len(line.encode()) + 1
        if size > MAX_DETAILS - 100:
            break
        kept.append(line)
    return "\n".join([*kept, f"... and {len(lines) - len(kept)} more lines"])


@contextlib.asynccontextmanager
async def answering(context: Context) -> AsyncIterator[None]:
    """End the call with the status an :class:`XxciError` raised inside stands for."""
    try:
        yield
    except XxciError as err:
        await context.abort(_code(err), details(err))


def _json(doc: object) -> pipeline_pb2.ReportResponse:
    return pipeline_pb2.ReportResponse(json=json.dumps(doc, sort_keys=True))


class PipelineServicer(pipeline_pb2_grpc.PipelineServiceServicer):
    def __init__(self, api: OrchestratorApi) -> None:
        self._api = api

    async def SubmitRun(
        self, request: pipeline_pb2.SubmitRunRequest, context: Context
    ) -> pipeline_pb2.SubmitRunResponse:
        submission = Submission(
            file_name=request.file_name,
            yaml_text=request.yaml_text,
            overrides=tuple(request.overrides),
            repo=request.repo,
            branch=request.branch,
            commit=request.commit,
            source_blob=request.source_blob,
            context=RunContext(
                tag=request.tag,
                commit_message=request.commit_message,
                default_branch=request.default_branch,
                source=request.pipeline_source,
                project=request.project,
                variables=dict(request.variables),
                changed_files=tuple(request.changed_files) if request.changes_known else None,
            ),
            run_id=request.run_id,
        )
        async with answering(context):
            submitted = await self._api.submit(submission)
        return pipeline_pb2.SubmitRunResponse(
            run_id=submitted.run_id, pipeline=submitted.pipeline, number=submitted.number
        )

    async def GetRun(
        self, request: pipeline_pb2.GetRunRequest, context: Context
    ) -> pipeline_pb2.ReportResponse:
        async with answering(context):
            return _json(await self._api.run_report(request.run_id, request.at_seq))

    async def QueryRuns(
        self, request: pipeline_pb2.QueryRunsRequest, context: Context
    ) -> pipeline_pb2.ReportResponse:
        query = ReportQuery(
            repo=request.repo,
            pipeline=request.pipeline,
            run=request.run_number,
            stage=request.stage,
            job=request.job,
            at_seq=request.at_seq,
            last=request.limit,
            branch=request.branch,
            status=request.status,
            skip=request.skip,
            stages=request.stages,
        )
        async with answering(context):
            return _json(await self._api.report(query))

    async def GetStatus(
        self, request: pipeline_pb2.GetStatusRequest, context: Context
    ) -> pipeline_pb2.ReportResponse:
        async with answering(context):
            return _json(await self._api.status())

    async def Verify(
        self, request: pipeline_pb2.VerifyRequest, context: Context
    ) -> pipeline_pb2.ReportResponse:
        async with answering(context):
            return _json((await self._api.verify(request.anchor)).to_dict())

    async def GetLogHead(
        self, request: pipeline_pb2.GetLogHeadRequest, context: Context
    ) -> pipeline_pb2.LogHead:
        async with answering(context):
            return pipeline_pb2.LogHead(
                last_seq=await self._api.last_seq(), pipelines=await self._api.pipelines()
            )

    async def ListWorkers(
        self, request: pipeline_pb2.ListWorkersRequest, context: Context
    ) -> pipeline_pb2.ListWorkersResponse:
        async with answering(context):
            workers = await self._api.workers()
        return pipeline_pb2.ListWorkersResponse(
            workers=[registered_worker_to_pb(w) for w in workers]
        )

    async def RevokeWorker(
        self, request: pipeline_pb2.RevokeWorkerRequest, context: Context
    ) -> pipeline_pb2.CancelRunResponse:
        async with answering(context):
            outcome = await self._api.revoke_worker(request.worker_id)
        return pipeline_pb2.CancelRunResponse(accepted=outcome.accepted, message=outcome.message)

    async def CancelRun(
        self, request: pipeline_pb2.CancelRunRequest, context: Context
    ) -> pipeline_pb2.CancelRunResponse:
        async with answering(context):
            outcome = await self._api.cancel(request.run_id, request.job)
        return pipeline_pb2.CancelRunResponse(accepted=outcome.accepted, message=outcome.message)

    async def PlayJob(
        self, request: pipeline_pb2.PlayJobRequest, context: Context
    ) -> pipeline_pb2.CancelRunResponse:
        async with answering(context):
            outcome = await self._api.play(request.run_id, request.job)
        return pipeline_pb2.CancelRunResponse(accepted=outcome.accepted, message=outcome.message)

    async def WatchRun(
        self, request: pipeline_pb2.WatchRunRequest, context: Context
    ) -> AsyncIterator[pipeline_pb2.EventRecord]:
        async with answering(context):
            async for rec in self._api.watch(request.run_id):
                yield record_to_pb(rec)

    async def GetEvents(
        self, request: pipeline_pb2.GetEventsRequest, context: Context
    ) -> AsyncIterator[pipeline_pb2.EventRecord]:
        async with answering(context):
            async for rec in self._api.events(request.run_id, request.since_seq, request.follow):
                yield record_to_pb(rec)

    async def StreamLogs(
        self, request: pipeline_pb2.StreamLogsRequest, context: Context
    ) -> AsyncIterator[pipeline_pb2.LogRecord]:
        async with answering(context):
            pieces = self._api.logs(
                request.run_id, request.job, request.attempt, request.follow, request.service
            )
            async for piece in pieces:
                yield pipeline_pb2.LogRecord(
                    attempt=piece.attempt,
                    seq=piece.seq,
                    stream=log_stream_to_pb(piece.stream),
                    data=piece.data,
                )
