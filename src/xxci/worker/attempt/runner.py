"""One job attempt on this worker: fetch its workspace, run it, report it, clean up.

An :class:`AttemptRunner` turns the executor's progress into the attempt's messages
(:mod:`xxci.worker.attempt.messages`: Started, OutputChunk, StepFinished, then exactly
one Finished) in its :class:`~xxci.worker.attempt.messages.MessageSink`. It never
raises for a job that went wrong: a blob that cannot be fetched or an executor that
crashes become a FAILED ``system_failure``. Only cancellation of its task (a hard
shutdown) ends it without a Finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from xxci.common.attempts import AttemptKey
from xxci.common.clock import SYSTEM_CLOCK, Clock
from xxci.common.errors import XxciError
from xxci.common.file_cache import FileCache
from xxci.common.job_extras import service_stream
from xxci.common.status import FailureReason, JobStatus
from xxci.worker.attempt.blob_store import BlobStore, BlobStoreUnavailable
from xxci.worker.attempt.cache_steps import CacheSteps
from xxci.worker.attempt.cache_store import CacheIndex, LocalCopies
from xxci.worker.attempt.log_batcher import LogBatcher
from xxci.worker.attempt.masking import MIN_MASKED_BYTES, Masker, StreamMasker
from xxci.worker.attempt.messages import Finished, MessageSink, Started, StepFinished
from xxci.worker.attempt.output_limit import OutputLimit
from xxci.worker.executor import Assignment, ExecutionResult, Executor, Workspace

__all__ = ["AttemptRunner", "attempt_dir_name"]

log = logging.getLogger("xxci.worker")

T = TypeVar("T")


class _Listener:
    """The executor's :class:`~xxci.worker.executor.ExecutionListener` for one attempt:
    each start and step end is stamped by ``clock`` as the executor reports it.

    Output is masked here, before it is batched: nothing after this point sees a
    secret's value. What a stream's masker holds back (the start of what may be a
    secret) is released before any other message, so order is kept. Masked output is
    then held to the attempt's output limit, as it is produced, and batched.
    """

    def __init__(
        self,
        sink: MessageSink,
        batcher: LogBatcher,
        clock: Clock,
        limit: OutputLimit,
        masker: Masker,
    ) -> None:
        self._sink = sink
        self._batcher = batcher
        self._clock = clock
        self._limit = limit
        self.masker = masker
        self._streams: dict[str, StreamMasker] = {}

    async def started(self, container: str, image_digest: str) -> None:
        at = self._clock.now()
        await self.flush()
        await self._sink.put(Started(container=container, image_digest=image_digest, at=at))

    async def output(self, stream: str, data: bytes) -> None:
        if stream not in self._streams:
            self._streams[stream] = self.masker.stream()
        await self._emit(stream, self._streams[stream].feed(data))

    async def _emit(self, stream: str, data: bytes) -> None:
        kept, notice = self._limit.take(stream, data)
        if kept:
            await self._batcher.output(stream, kept)
        if notice:
            await self._batcher.output("system", notice)

    async def system(self, line: str) -> None:
        await self.output("system", (line.rstrip("\n") + "\n").encode())

    async def service_output(self, service: str, data: bytes) -> None:
        await self.output(service_stream(service), data)

    async def step_finished(self, index: int, exit_code: int) -> None:
        at = self._clock.now()
        await self.flush()
        await self._sink.put(StepFinished(index=index, exit_code=exit_code, at=at))

    async def flush(self) -> None:
        """Release what the maskers hold, then everything batched."""
        for stream, masker in self._streams.items():
            await self._emit(stream, masker.flush())
        await self._batcher.flush()


def attempt_dir_name(key: AttemptKey) -> str:
    """A file-system-safe, collision-free directory name for an attempt."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{key.run_id}-{key.job}-{key.attempt}")
    digest = hashlib.sha256(f"{key.run_id}\0{key.job}\0{key.attempt}".encode()).hexdigest()
    return f"{readable[:80]}-{digest[:10]}"


def _source(workspace: Workspace) -> tuple[Path, ...]:
    return (workspace.source,) if workspace.source is not None else ()


def _system_failure(message: str) -> ExecutionResult:
    return ExecutionResult(
        status=JobStatus.FAILED, failure_reason=FailureReason.SYSTEM_FAILURE, message=message
    )


class AttemptRunner:
    """Runs one attempt end to end; see the module docstring for the contract.

    The assignment's source and artifact blobs are fetched through ``blob_files`` (by
    digest, so attempts sharing it fetch a blob once; without it, into
    ``work_dir/<attempt>``, removed afterwards). Blob transfers retry while the store
    is unavailable, for up to ``fetch_retry_seconds`` / ``upload_retry_seconds``.
    ``clock`` stamps when the job started, each step and the job ended.
    """

    def __init__(
        self,
        assignment: Assignment,
        sink: MessageSink,
        executor: Executor,
        blobs: BlobStore,
        work_dir: Path,
        grace_seconds: float = 10.0,
        fetch_retry_seconds: float = 60.0,
        upload_retry_seconds: float = 300.0,
        blob_files: FileCache[str] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        caches: CacheIndex | None = None,
        copies: LocalCopies | None = None,
    ) -> None:
        self.key = assignment.key
        self.assignment = assignment
        self._sink = sink
        self._executor = executor
        self._blobs = blobs
        self._dir = work_dir / attempt_dir_name(self.key)
        self._blob_files = blob_files or FileCache(self._dir, keep=0)
        self._grace = grace_seconds
        self._fetch_retry = fetch_retry_seconds
        self._upload_retry = upload_retry_seconds
        self._cancel = asyncio.Event()
        self._kill = asyncio.Event()
        self._clock = clock
        self._started = False
        self._ended_at: datetime | None = None
        self._output = OutputLimit(assignment.output_limit)
        self._caches = caches
        self._copies = copies
        self._masker = Masker(
            [s.value for s in assignment.secrets if len(s.value) >= MIN_MASKED_BYTES]
            + [v.encode() for v in assignment.masked_values]
        )

    def cancel(self, grace_seconds: float | None = None) -> None:
        """Ask the attempt to stop (the executor stops the job: SIGTERM, grace, SIGKILL).

        ``grace_seconds`` only applies if the executor has not started yet: the
        executor contract takes the grace when the run begins.
        """
        if grace_seconds is not None and not self._started:
            self._grace = grace_seconds
        self._cancel.set()

    def revoke(self) -> None:
        """The attempt is no longer this worker's: stop it at once (SIGKILL, no grace),
        even if a cancel's grace is running already."""
        self._kill.set()
        self._cancel.set()

    async def run(self) -> None:
        batcher = LogBatcher(self._sink)
        listener = _Listener(self._sink, batcher, self._clock, self._output, self._masker)
        timer = asyncio.create_task(batcher.run_timer(), name=f"log batcher {self.key}")
        try:
            try:
                result, artifacts_blob = await self._run(listener)
            except Exception as err:  # a bug here must not take the worker down
                log.exception("internal error running %s", self.key)
                result, artifacts_blob = _system_failure(f"internal worker error: {err}"), ""
            # When the job itself ended, not when its artifacts were uploaded: an upload
            # may wait out an outage of the orchestrator.
            ended = self._ended_at or self._clock.now()
            await listener.flush()
            result = replace(result, message=self._masker.mask_text(result.message))
            finished = Finished.of(result, artifacts_blob, at=ended, output_cut=self._output.cut)
            await self._sink.put(finished)
        finally:
            timer.cancel()
            # gather, not suppress(CancelledError): a cancel of this task must go on.
            await asyncio.gather(timer, return_exceptions=True)
            self._sink.close()
            await asyncio.to_thread(shutil.rmtree, self._dir, ignore_errors=True)

    async def _run(self, listener: _Listener) -> tuple[ExecutionResult, str]:
        missing = [s.name for s in self.assignment.secrets if s.missing]
        if missing:
            names = ", ".join(repr(n) for n in missing)
            return _system_failure(f"the secret store has no secret {names}"), ""
        caches = CacheSteps(
            self.assignment,
            self._caches,
            self._copies,
            self._dir,
            listener.system,
        )
        async with contextlib.AsyncExitStack() as stack:
            try:
                workspace = await stack.enter_async_context(self._fetched())
                await asyncio.to_thread(self._dir.mkdir, parents=True, exist_ok=True)
                restored = await caches.restore((*_source(workspace), *workspace.artifacts))
                workspace = replace(workspace, caches=restored)
            except (XxciError, OSError) as err:
                return _system_failure(f"cannot fetch the workspace: {err}"), ""
            if self._cancel.is_set():
                canceled = ExecutionResult(
                    status=JobStatus.CANCELED,
                    failure_reason=FailureReason.CANCELED,
                    message="canceled before the job started",
                )
                return canceled, ""
            self._started = True
            try:
                result = await self._executor.run(
                    self.assignment, workspace, listener, self._cancel, self._grace, self._kill
                )
            except Exception as err:  # the executor must not raise; report it, keep the worker
                log.exception("executor crashed running %s", self.key)
                return _system_failure(f"the worker failed to run the job: {err}"), ""
            self._ended_at = self._clock.now()
        await caches.save(dict(result.caches))
        await listener.flush()
        if result.artifacts is None:
            return result, ""
        return await self._upload_artifacts(result, result.artifacts)

    @contextlib.asynccontextmanager
    async def _fetched(self) -> AsyncIterator[Workspace]:
        """The source tree and earlier artifacts as local files, held for the block."""
        source = self.assignment.source_blob
        digests = [*([source] if source else []), *self.assignment.artifact_blobs]
        wanted = [(digest, functools.partial(self._download, digest)) for digest in digests]
        async with self._blob_files.using(wanted) as paths:
            if source:
                yield Workspace(source=paths[0], artifacts=tuple(paths[1:]))
            else:
                yield Workspace(artifacts=tuple(paths))

    async def _download(self, digest: str, dest: Path) -> None:
        await self._retrying(
            functools.partial(self._blobs.download, digest, dest),
            self._fetch_retry,
            honour_cancel=True,
        )

    async def _upload_artifacts(
        self, result: ExecutionResult, archive: Path
    ) -> tuple[ExecutionResult, str]:
        try:
            digest = await self._retrying(
                functools.partial(self._blobs.upload, archive), self._upload_retry
            )
        except (XxciError, OSError) as err:
            message = f"cannot upload the artifacts: {err}"
            if result.status is JobStatus.SUCCESS:
                return _system_failure(message), ""
            joined = f"{result.message}; {message}" if result.message else message
            return replace(result, message=joined), ""
        finally:
            # The archive is the worker's to consume once the executor returned it.
            await asyncio.to_thread(archive.unlink, missing_ok=True)
        return result, digest

    async def _retrying(
        self, op: Callable[[], Awaitable[T]], budget: float, *, honour_cancel: bool = False
    ) -> T:
        """``op()``, retried with backoff while the blob store is unavailable.

        With ``honour_cancel``, a cancel of the attempt ends the retries.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        delay = 0.5
        while True:
            try:
                return await op()
            except BlobStoreUnavailable as err:
                if loop.time() + delay > deadline or (honour_cancel and self._cancel.is_set()):
                    raise
                log.warning(
                    "%s: blob transfer failed (%s); retrying in %.1fs", self.key, err, delay
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
