"""The CLI's side of ``PipelineService``: typed calls, errors translated once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import grpc

from xxci.common.auth import open_channel, translate_rpc_error
from xxci.common.blobs import upload_file
from xxci.common.closing import AsyncClosing
from xxci.common.convert import record_from_pb
from xxci.common.events import RecordedEvent
from xxci.common.pb.v1 import pipeline_pb2, pipeline_pb2_grpc
from xxci.common.spec.context import DEFAULT_BRANCH, RunContext


class Client(AsyncClosing):
    """A connection to one orchestrator. Use as ``async with Client(...) as c``."""

    def __init__(self, target: str, token: str | None = None, tls_ca: Path | None = None) -> None:
        self.target = target
        self._channel = open_channel(target, token, tls_ca)
        self._stub = pipeline_pb2_grpc.PipelineServiceStub(self._channel)

    async def close(self) -> None:
        await self._channel.close(None)

    async def upload(self, path: Path) -> str:
        try:
            return await upload_file(self._channel, path)
        except grpc.aio.AioRpcError as err:
            raise translate_rpc_error(err, self.target) from err

    async def submit(
        self,
        *,
        file_name: str,
        yaml_text: str,
        overrides: Sequence[str],
        repo: str,
        branch: str,
        commit: str,
        source_blob: str,
        context: RunContext | None = None,
    ) -> pipeline_pb2.SubmitRunResponse:
        """Submit a run; ``context`` is what its rules are decided against."""
        context = context or RunContext(branch=branch or DEFAULT_BRANCH, commit=commit)
        request = pipeline_pb2.SubmitRunRequest(
            file_name=file_name,
            yaml_text=yaml_text,
            overrides=list(overrides),
            repo=repo,
            branch=branch,
            commit=commit,
            source_blob=source_blob,
            pipeline_source=context.source,
            default_branch=context.default_branch,
            tag=context.tag,
            commit_message=context.commit_message,
            variables=dict(context.variables),
            changed_files=list(context.changed_files or ()),
            changes_known=context.changed_files is not None,
            project=context.project,
        )
        try:
            return await self._stub.SubmitRun(request)
        except grpc.aio.AioRpcError as err:
            raise translate_rpc_error(err, self.target) from err

    async def watch(self, run_id: str) -> AsyncIterator[RecordedEvent]:
        try:
            async for msg in self._stub.WatchRun(pipeline_pb2.WatchRunRequest(run_id=run_id)):
                yield record_from_pb(msg)
        except grpc.aio.AioRpcError as err:
            raise translate_rpc_error(err, self.target) from err

    async def events(
        self, run_id: str = "", since_seq: int = 0, follow: bool = False
    ) -> AsyncIterator[RecordedEvent]:
        request = pipeline_pb2.GetEventsRequest(run_id=run_id, since_seq=since_seq, follow=follow)
        try:
            async for msg in self._stub.GetEvents(request):
                yield record_from_pb(msg)
        except grpc.aio.AioRpcError as err:
            raise translate_rpc_error(err, self.target) from err

    async def logs(
        self, run_id: str, job: str, attempt: int = 0, follow: bool = False
    ) -> AsyncIterator[pipeline_pb2.LogRecord]:
        request = pipeline_pb2.StreamLogsRequest(
            run_id=run_id, job=job, attempt=attempt, follow=follow
        )
        try:
            async for msg in self._stub.StreamLogs(request):
                yield msg
        except grpc.aio.AioRpcError as err:
            raise translate_rpc_error(err, self.target) from err

    async def cancel(self, run_id: str, job: str = "") -> pipeline_pb2.CancelRunResponse:
        try:
            return await self._stub.CancelRun(pipeline_pb2.CancelRunRequest(run_id=run_id, job=job))
        except grpc.aio.AioRpcError as err:
            raise translate_rpc_error(err, self.target) from err

    async def play(self, run_id: str, job: str) -> pipeline_pb2.CancelRunResponse:
        try:
            return await self._stub.PlayJob(pipeline_pb2.PlayJobRequest(run_id=run_id, job=job))
        except grpc.aio.AioRpcError as err:
            raise translate_rpc_error(err, self.target) from err

    async def get_run(self, run_id: str, at_seq: int = 0) -> dict[str, Any]:
        try:
            reply = await self._stub.GetRun(
                pipeline_pb2.GetRunRequest(run_id=run_id, at_seq=at_seq)
            )
        except grpc.aio.AioRpcError as err:
            raise translate_rpc_error(err, self.target) from err
        doc: dict[str, Any] = json.loads(reply.json)
        return doc

    async def query(
        self,
        *,
        repo: str = "",
        pipeline: str = "",
        run_number: int = 0,
        stage: str = "",
        job: str = "",
        at_seq: int = 0,
        limit: int = 0,
        branch: str = "",
        status: str = "",
        skip: int = 0,
        stages: bool = False,
    ) -> dict[str, Any]:
        request = pipeline_pb2.QueryRunsRequest(
            repo=repo,
            pipeline=pipeline,
            run_number=run_number,
            stage=stage,
            job=job,
            at_seq=at_seq,
            limit=limit,
            branch=branch,
            status=status,
            skip=skip,
            stages=stages,
        )
        try:
            reply = await self._stub.QueryRuns(request)
        except grpc.aio.AioRpcError as err:
            raise translate_rpc_error(err, self.target) from err
        doc: dict[str, Any] = json.loads(reply.json)
        return doc

    async def status(self) -> dict[str, Any]:
        try:
            reply = await self._stub.GetStatus(pipeline_pb2.GetStatusRequest())
        except grpc.aio.AioRpcError as err:
            raise translate_rpc_error(err, self.target) from err
        doc: dict[str, Any] = json.loads(reply.json)
        return doc

    async def verify(self, anchor: str = "") -> dict[str, Any]:
        try:
            reply = await self._stub.Verify(pipeline_pb2.VerifyRequest(anchor=anchor))
        except grpc.aio.AioRpcError as err:
            raise translate_rpc_error(err, self.target) from err
        doc: dict[str, Any] = json.loads(reply.json)
        return doc
