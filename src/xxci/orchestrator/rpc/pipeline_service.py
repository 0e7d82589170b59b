"""``PipelineService``: what the CLI asks of the orchestrator."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, NoReturn

import grpc

from xxci.common.convert import log_stream_to_pb, record_to_pb
from xxci.common.errors import NotFoundError, SpecError, UsageError, XxciError
from xxci.common.events import RunFinished, run_stream
from xxci.common.pb.v1 import pipeline_pb2, pipeline_pb2_grpc
from xxci.common.spec import load_pipeline_text
from xxci.common.spec.context import DEFAULT_BRANCH, RunContext
from xxci.common.spec.files import NO_FILES, ArchiveFiles
from xxci.common.spec.runtime_support import refuse_unsupported
from xxci.orchestrator.runtime.orchestrator import Orchestrator
from xxci.orchestrator.store import parse_anchor
from xxci.orchestrator.views.feeds import event_feed, job_output
from xxci.orchestrator.views.queries import ReportQuery, query_report, resolve_run
from xxci.orchestrator.views.report import run_report
from xxci.orchestrator.views.verify import verify_log

FOLLOW_POLL_SECONDS = 1.0

Context = grpc.aio.ServicerContext[Any, Any]


async def _abort(context: Context, err: XxciError) -> NoReturn:
    code = grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(err, NotFoundError):
        code = grpc.StatusCode.NOT_FOUND
    await context.abort(code, str(err))
    raise AssertionError("unreachable")


def _json(doc: object) -> pipeline_pb2.ReportResponse:
    return pipeline_pb2.ReportResponse(json=json.dumps(doc, sort_keys=True))


class PipelineServicer(pipeline_pb2_grpc.PipelineServiceServicer):
    def __init__(self, orchestrator: Orchestrator) -> None:
        self._o = orchestrator

    async def SubmitRun(
        self, request: pipeline_pb2.SubmitRunRequest, context: Context
    ) -> pipeline_pb2.SubmitRunResponse:
        if request.source_blob and not self._o.blobs.exists(request.source_blob):
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"source blob {request.source_blob} was not uploaded",
            )
        try:
            pipeline = load_pipeline_text(
                request.yaml_text,
                request.file_name or "pipeline.yml",
                list(request.overrides),
                self._run_context(request),
            )
            refuse_unsupported(pipeline)
        except (SpecError, UsageError, XxciError) as err:
            await _abort(context, err)
        state = await self._o.submit(
            pipeline,
            repo=request.repo,
            branch=request.branch,
            commit=request.commit,
            source_blob=request.source_blob,
        )
        return pipeline_pb2.SubmitRunResponse(
            run_id=state.run_id, pipeline=state.pipeline.name, number=state.number
        )

    def _run_context(self, request: pipeline_pb2.SubmitRunRequest) -> RunContext:
        """The request's context; ``include`` and ``exists`` read its source archive."""
        files = (
            ArchiveFiles(self._o.blobs.path(request.source_blob))
            if request.source_blob
            else NO_FILES
        )
        default_branch = request.default_branch or DEFAULT_BRANCH
        return RunContext(
            # A run that names neither a branch nor a tag is one of the default branch.
            branch=request.branch or ("" if request.tag else default_branch),
            tag=request.tag,
            commit=request.commit,
            commit_message=request.commit_message,
            default_branch=default_branch,
            source=request.pipeline_source or "push",
            project=request.project,
            variables=dict(request.variables),
            changed_files=tuple(request.changed_files) if request.changes_known else None,
            files=files,
        )

    async def GetRun(
        self, request: pipeline_pb2.GetRunRequest, context: Context
    ) -> pipeline_pb2.ReportResponse:
        try:
            run_id = await resolve_run(self._o.store, request.run_id)
            if request.at_seq:
                state = await self._o.state_at(run_id, request.at_seq)
            else:
                state = await self._o.runs.get(run_id)
        except XxciError as err:
            await _abort(context, err)
        return _json(run_report(state))

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
        try:
            doc = await query_report(self._o.store, self._o.reports, query)
        except XxciError as err:
            await _abort(context, err)
        return _json(doc)

    async def GetStatus(
        self, request: pipeline_pb2.GetStatusRequest, context: Context
    ) -> pipeline_pb2.ReportResponse:
        return _json(self._o.status())

    async def Verify(
        self, request: pipeline_pb2.VerifyRequest, context: Context
    ) -> pipeline_pb2.ReportResponse:
        try:
            anchor = parse_anchor(request.anchor) if request.anchor else None
        except ValueError as err:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
        result = await verify_log(self._o.store, self._o.reports, self._o.report_dir, anchor)
        return _json(result.to_dict())

    async def CancelRun(
        self, request: pipeline_pb2.CancelRunRequest, context: Context
    ) -> pipeline_pb2.CancelRunResponse:
        try:
            run_id = await resolve_run(self._o.store, request.run_id)
            decision = await self._o.cancel(run_id, request.job, reason="requested by user")
        except XxciError as err:
            await _abort(context, err)
        return pipeline_pb2.CancelRunResponse(accepted=decision.accepted, message=decision.message)

    async def PlayJob(
        self, request: pipeline_pb2.PlayJobRequest, context: Context
    ) -> pipeline_pb2.CancelRunResponse:
        try:
            run_id = await resolve_run(self._o.store, request.run_id)
            decision = await self._o.play(run_id, request.job, by="xxci play")
        except XxciError as err:
            await _abort(context, err)
        return pipeline_pb2.CancelRunResponse(accepted=decision.accepted, message=decision.message)

    async def WatchRun(
        self, request: pipeline_pb2.WatchRunRequest, context: Context
    ) -> AsyncIterator[pipeline_pb2.EventRecord]:
        stream = run_stream(request.run_id)
        version = 0
        seen_any = False
        while True:
            last_seq = await self._o.store.last_seq()
            records = await self._o.store.read_stream(stream, after_version=version)
            if not records and not seen_any:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"no run {request.run_id!r}")
            for rec in records:
                seen_any = True
                version = rec.version
                yield record_to_pb(rec)
                if isinstance(rec.event, RunFinished):
                    return
            await self._o.store.wait_for(last_seq, FOLLOW_POLL_SECONDS)

    async def GetEvents(
        self, request: pipeline_pb2.GetEventsRequest, context: Context
    ) -> AsyncIterator[pipeline_pb2.EventRecord]:
        try:
            run_id = await resolve_run(self._o.store, request.run_id) if request.run_id else ""
            feed = event_feed(
                self._o.store, run_id, request.since_seq, request.follow, FOLLOW_POLL_SECONDS
            )
            async for rec in feed:
                yield record_to_pb(rec)
        except XxciError as err:
            await _abort(context, err)

    async def StreamLogs(
        self, request: pipeline_pb2.StreamLogsRequest, context: Context
    ) -> AsyncIterator[pipeline_pb2.LogRecord]:
        try:
            run_id = await resolve_run(self._o.store, request.run_id)
            output = job_output(
                self._o.runs.get,
                self._o.logs,
                run_id,
                request.job,
                request.attempt,
                request.follow,
                FOLLOW_POLL_SECONDS,
            )
            async for piece in output:
                yield pipeline_pb2.LogRecord(
                    attempt=piece.attempt,
                    seq=piece.seq,
                    stream=log_stream_to_pb(piece.stream),
                    data=piece.data,
                )
        except XxciError as err:
            await _abort(context, err)
