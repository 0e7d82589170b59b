"""``PipelineService``: what the CLI asks of the orchestrator."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, NoReturn

import grpc

from xxci.common.convert import record_to_pb
from xxci.common.errors import NotFoundError, SpecError, UsageError, XxciError
from xxci.common.events import RunFinished, run_stream
from xxci.common.pb.v1 import pipeline_pb2, pipeline_pb2_grpc
from xxci.common.spec import load_pipeline_text
from xxci.orchestrator.core import Orchestrator
from xxci.orchestrator.queries import query_report, status_report
from xxci.orchestrator.report import run_report

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
        try:
            pipeline = load_pipeline_text(
                request.yaml_text, request.file_name or "pipeline.yml", list(request.overrides)
            )
        except (SpecError, UsageError) as err:
            await _abort(context, err)
        if request.source_blob and not self._o.blobs.exists(request.source_blob):
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"source blob {request.source_blob} was not uploaded",
            )
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

    async def GetRun(
        self, request: pipeline_pb2.GetRunRequest, context: Context
    ) -> pipeline_pb2.ReportResponse:
        try:
            if request.at_seq:
                state = await self._o.state_at(request.run_id, request.at_seq)
            else:
                state = await self._o.runs.get(request.run_id)
        except XxciError as err:
            await _abort(context, err)
        return _json(run_report(state))

    async def QueryRuns(
        self, request: pipeline_pb2.QueryRunsRequest, context: Context
    ) -> pipeline_pb2.ReportResponse:
        try:
            doc = await query_report(
                self._o.store,
                repo=request.repo,
                pipeline=request.pipeline,
                number=request.run_number,
                stage=request.stage,
                job=request.job,
                at_seq=request.at_seq,
            )
        except XxciError as err:
            await _abort(context, err)
        return _json(doc)

    async def GetStatus(
        self, request: pipeline_pb2.GetStatusRequest, context: Context
    ) -> pipeline_pb2.ReportResponse:
        return _json(status_report(self._o.runs.active(), self._o.hub.sessions()))

    async def CancelRun(
        self, request: pipeline_pb2.CancelRunRequest, context: Context
    ) -> pipeline_pb2.CancelRunResponse:
        try:
            before = await self._o.runs.get(request.run_id)
            if before.status.finished:
                return pipeline_pb2.CancelRunResponse(
                    accepted=False,
                    message=f"run {before.pipeline.name} #{before.number} already finished "
                    f"({before.status.value})",
                )
            await self._o.cancel(request.run_id, request.job, reason="requested by user")
        except XxciError as err:
            await _abort(context, err)
        what = f"job {request.job}" if request.job else "run"
        return pipeline_pb2.CancelRunResponse(
            accepted=True,
            message=f"cancel requested for {what} of {before.pipeline.name} #{before.number}",
        )

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
                await context.abort(grpc.StatusCode.NOT_FOUND, f"no run with id {request.run_id!r}")
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
        since = request.since_seq
        stream = run_stream(request.run_id) if request.run_id else None
        while True:
            last_seq = await self._o.store.last_seq()
            if stream is not None:
                records = [r for r in await self._o.store.read_stream(stream) if r.seq > since]
            else:
                records = await self._o.store.read_all(since_seq=since, limit=1000)
            for rec in records:
                since = rec.seq
                yield record_to_pb(rec)
            if not request.follow:
                if stream is not None or not records:
                    return
                continue
            if stream is not None and any(isinstance(r.event, RunFinished) for r in records):
                return
            await self._o.store.wait_for(max(since, last_seq), FOLLOW_POLL_SECONDS)

    async def StreamLogs(
        self, request: pipeline_pb2.StreamLogsRequest, context: Context
    ) -> AsyncIterator[pipeline_pb2.LogRecord]:
        try:
            state = await self._o.runs.get(request.run_id)
        except NotFoundError as err:
            await _abort(context, err)
        js = state.jobs.get(request.job)
        if js is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"run {state.pipeline.name} #{state.number} has no job {request.job!r}",
            )
        attempt = request.attempt or max(js.attempt, 1)
        after = 0
        while True:
            state = await self._o.runs.get(request.run_id)
            done = state.jobs[request.job].status.finished or state.status.finished
            moved = state.jobs[request.job].attempt != attempt and not request.attempt
            for chunk in await self._o.logs.read(
                request.run_id, request.job, attempt, after_seq=after
            ):
                after = chunk.seq
                yield pipeline_pb2.LogRecord(
                    attempt=attempt, seq=chunk.seq, stream=chunk.stream, data=chunk.data
                )
            if not request.follow or done:
                return
            if moved:
                attempt = state.jobs[request.job].attempt
                after = 0
                continue
            await self._o.logs.wait_for(
                request.run_id, request.job, attempt, after, FOLLOW_POLL_SECONDS
            )
