"""The orchestrator's application service: :class:`~xxci.common.api.OrchestratorApi`
implemented once, over an :class:`Orchestrator`.

Everything a client may ask goes through here: the gRPC ``PipelineService`` is a thin
adapter that converts its messages to these calls, and ``--local`` commands in the
orchestrator's own process call this object directly. Errors are the API's
(:mod:`xxci.common.errors`); nothing here knows the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from dataclasses import replace
from pathlib import Path
from typing import Any

from xxci.common.anchor import parse_anchor
from xxci.common.api import (
    LogPiece,
    Outcome,
    RegisteredWorker,
    ReportQuery,
    Submission,
    Submitted,
    VerifyResult,
)
from xxci.common.errors import NotFoundError, UsageError
from xxci.common.events import RecordedEvent, finished_after, run_stream
from xxci.common.spec.context import DEFAULT_BRANCH, RunContext
from xxci.common.spec.files import NO_FILES, ArchiveFiles, RepoFiles
from xxci.common.spec.limits import describe_size
from xxci.common.spec.runtime_support import refuse_unsupported
from xxci.orchestrator.application.inputs import (
    MAX_NUMBER,
    check_digest,
    check_submission,
    position,
)
from xxci.orchestrator.application.stores import StoresApi
from xxci.orchestrator.domain.identity import IdentityRecord
from xxci.orchestrator.runtime.orchestrator import Orchestrator
from xxci.orchestrator.views.feeds import event_feed, job_output
from xxci.orchestrator.views.queries import query_report, resolve_run
from xxci.orchestrator.views.verify import verify_log

__all__ = ["OrchestratorService"]

FOLLOW_POLL_SECONDS = 1.0
"""A back-stop for followers: appends in this process wake them at once."""


class OrchestratorService(StoresApi):
    """The :class:`~xxci.common.api.OrchestratorApi` of one running orchestrator
    (secrets and caches: :class:`~xxci.orchestrator.application.stores.StoresApi`)."""

    def __init__(self, orchestrator: Orchestrator) -> None:
        self._o = orchestrator

    async def upload_source(self, path: Path) -> str:
        size = (await asyncio.to_thread(path.stat)).st_size
        if size > self._o.limits.upload_bytes:
            limit = describe_size(self._o.limits.upload_bytes)
            raise UsageError(
                f"the source tree packs to {describe_size(size)}, over this orchestrator's "
                f"limit of {limit} per blob"
            )
        return (await self._o.blobs.put_file(path)).digest

    async def submit(self, submission: Submission) -> Submitted:
        check_submission(submission)
        blob = submission.source_blob
        if blob and await self._o.blobs.stat(blob) is None:
            raise NotFoundError(f"source blob {blob} was not uploaded")
        async with contextlib.AsyncExitStack() as stack:
            files: RepoFiles = (
                NO_FILES  # include and exists read the run's source archive, a local file
            )
            if blob:
                files = ArchiveFiles(
                    await stack.enter_async_context(self._o.blobs.local_copy(blob))
                )
            pipeline = await self._o.specs.load(
                submission.yaml_text,
                submission.file_name or "pipeline.yml",
                list(submission.overrides),
                self._run_context(submission, files),
            )
        refuse_unsupported(pipeline)
        state = await self._o.submit(
            pipeline,
            repo=submission.repo,
            branch=submission.branch,
            commit=submission.commit,
            source_blob=submission.source_blob,
            run_id=submission.run_id,
        )
        return Submitted(state.run_id, state.pipeline.name, state.number)

    def _run_context(self, submission: Submission, files: RepoFiles) -> RunContext:
        """What the run's rules are decided against; ``include`` and ``exists`` read
        ``files``, its source archive."""
        given = submission.context or RunContext()
        default_branch = given.default_branch or DEFAULT_BRANCH
        return replace(
            given,
            # A run that names neither a branch nor a tag is one of the default branch.
            branch=submission.branch or ("" if given.tag else default_branch),
            commit=submission.commit,
            default_branch=default_branch,
            source=given.source or "push",
            files=files,
        )

    async def watch(self, run: str) -> AsyncGenerator[RecordedEvent, None]:
        run_id = await resolve_run(self._o.store, run)
        stream = run_stream(run_id)
        version = 0
        finished = False
        while True:
            last_seq = await self._o.store.last_seq()
            records = await self._o.store.read_stream(stream, after_version=version)
            for rec in records:
                version = rec.version
                yield rec
            # The end: a RunFinished, unless a play opened the run again since.
            finished = finished_after(records, finished)
            if finished:
                return
            await self._o.store.wait_for(last_seq, FOLLOW_POLL_SECONDS)

    async def events(
        self, run: str = "", since_seq: int = 0, follow: bool = False
    ) -> AsyncGenerator[RecordedEvent, None]:
        since_seq = position(since_seq, "--since")
        run_id = await resolve_run(self._o.store, run) if run else ""
        async for rec in event_feed(self._o.store, run_id, since_seq, follow, FOLLOW_POLL_SECONDS):
            yield rec

    async def logs(
        self, run: str, job: str, attempt: int = 0, follow: bool = False, service: str = ""
    ) -> AsyncGenerator[LogPiece, None]:
        attempt = position(attempt, "--attempt")
        run_id = await resolve_run(self._o.store, run)
        output = job_output(
            self._o.runs.get,
            self._o.logs,
            run_id,
            job,
            attempt,
            follow,
            FOLLOW_POLL_SECONDS,
            service,
        )
        async for piece in output:
            yield piece

    async def cancel(self, run: str, job: str = "") -> Outcome:
        run_id = await resolve_run(self._o.store, run)
        decision = await self._o.cancel(run_id, job, reason="requested by user")
        return Outcome(decision.accepted, decision.message)

    async def play(self, run: str, job: str) -> Outcome:
        run_id = await resolve_run(self._o.store, run)
        decision = await self._o.play(run_id, job, by="xxci play")
        return Outcome(decision.accepted, decision.message)

    async def report(self, query: ReportQuery) -> dict[str, Any]:
        query = replace(
            query,
            run=position(query.run, "--run"),
            at_seq=position(query.at_seq, "--at"),
            last=position(query.last, "--last"),
            skip=position(query.skip, "--skip"),
        )
        return await query_report(self._o.store, self._o.reports, query)

    async def run_report(self, run: str, at_seq: int = 0) -> dict[str, Any]:
        at_seq = position(at_seq, "--at")
        row = await self._o.store.get_run(await resolve_run(self._o.store, run))
        query = ReportQuery(pipeline=row.pipeline, run=row.number, at_seq=at_seq)
        return await query_report(self._o.store, self._o.reports, query)

    async def status(self) -> dict[str, Any]:
        return self._o.status()

    async def verify(self, anchor: str = "") -> VerifyResult:
        try:
            checked = parse_anchor(anchor) if anchor else None
        except ValueError as err:
            raise UsageError(f"--anchor: {err}") from None
        if checked is not None and checked.seq > MAX_NUMBER:
            raise UsageError(f"--anchor: no event {checked.seq} can exist")
        return await verify_log(self._o.store, self._o.reports, self._o.report_dir, checked)

    async def pipelines(self) -> list[str]:
        return await self._o.store.pipelines()

    async def last_seq(self) -> int:
        return await self._o.store.last_seq()

    async def workers(self) -> list[RegisteredWorker]:
        elsewhere = await self._o.connected_elsewhere()
        return [
            self._worker(record, record.worker_id in elsewhere)
            for record in await self._o.identities.all()
        ]

    def _worker(self, record: IdentityRecord, elsewhere: bool) -> RegisteredWorker:
        """The identity, with what its live stream (if any) says now; ``elsewhere``: it
        is connected to another orchestrator of the shared store."""
        session = self._o.hub.session(record.worker_id)
        if session is None or session.closed:
            return RegisteredWorker(
                record.worker_id,
                record.name,
                record.registered_at,
                record.last_seen_at,
                connected=elsewhere and not record.revoked,
                revoked_at=record.revoked_at,
            )
        return RegisteredWorker(
            record.worker_id,
            session.name,
            record.registered_at,
            session.last_seen or record.last_seen_at,
            connected=True,
            revoked_at=record.revoked_at,
        )

    async def revoke_worker(self, worker_id: str) -> Outcome:
        revocation = await self._o.revoke_worker(worker_id)
        record = revocation.record
        who = f"worker {record.worker_id} ({record.name})"
        if not revocation.now:
            assert record.revoked_at is not None
            when = record.revoked_at.isoformat(timespec="seconds")
            return Outcome(False, f"{who} was revoked already, at {when}")
        return Outcome(
            True,
            f"{who} revoked: it is disconnected, its jobs run again elsewhere, and it"
            " cannot connect until it registers again (xxci worker --register)",
        )

    async def blob(self, digest: str) -> AsyncGenerator[bytes, None]:
        check_digest(digest)
        async for chunk in self._o.blobs.read_chunks(digest):
            yield chunk
