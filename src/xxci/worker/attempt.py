"""One job attempt on this worker: fetch its blobs, run it, report it, clean up.

An :class:`AttemptRunner` turns the executor's progress into wire messages in the
attempt's :class:`~xxci.worker.outbox.Outbox` (JobStarted, LogChunk, StepFinished,
then exactly one JobFinished). It never raises for a job that went wrong: a blob that
cannot be fetched or an executor that crashes become a FAILED ``system_failure``.
Only cancellation of its task (a hard shutdown) ends it without a JobFinished.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import re
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import grpc
import grpc.aio

from xxci.common import blobs
from xxci.common.attempts import AttemptKey
from xxci.common.auth import translate_rpc_error
from xxci.common.convert import attempt_ref
from xxci.common.errors import XxciError
from xxci.common.pb.v1 import worker_pb2
from xxci.common.status import FailureReason, JobStatus
from xxci.worker.convert import job_finished, log_chunk
from xxci.worker.executor import Assignment, ExecutionResult, Executor, Workspace
from xxci.worker.outbox import Outbox

__all__ = ["MAX_CHUNK_BYTES", "AttemptRunner", "LogBatcher", "attempt_dir_name"]

log = logging.getLogger("xxci.worker")

T = TypeVar("T")

MAX_CHUNK_BYTES = 64 * 1024
MAX_CHUNK_DELAY = 0.1


class LogBatcher:
    """Coalesces executor output into LogChunk messages.

    Output is buffered per stream and sent when 64 KiB accumulate, 100 ms after the
    first buffered byte, when the stream name changes, or on :meth:`flush` (before
    any other message, so order is kept). ``seq`` counts from 1 per attempt.
    """

    def __init__(
        self,
        key: AttemptKey,
        outbox: Outbox,
        max_bytes: int = MAX_CHUNK_BYTES,
        max_delay: float = MAX_CHUNK_DELAY,
    ) -> None:
        self._key = key
        self._outbox = outbox
        self._max_bytes = max_bytes
        self._max_delay = max_delay
        self._stream = ""
        self._buffer = bytearray()
        self._seq = 0
        self._lock = asyncio.Lock()
        self._pending = asyncio.Event()

    async def output(self, stream: str, data: bytes) -> None:
        if not data:
            return
        if self._buffer and stream != self._stream:
            await self.flush()
        self._stream = stream
        self._buffer += data
        self._pending.set()
        if len(self._buffer) >= self._max_bytes:
            await self._send(whole=False)

    async def flush(self) -> None:
        """Send everything buffered now (in chunks of at most ``max_bytes``)."""
        await self._send(whole=True)

    async def _send(self, whole: bool) -> None:
        """Send full chunks, and with ``whole`` the partial tail too."""
        async with self._lock:
            while self._buffer and (whole or len(self._buffer) >= self._max_bytes):
                data = bytes(self._buffer[: self._max_bytes])
                del self._buffer[: self._max_bytes]
                self._seq += 1
                chunk = log_chunk(self._key, self._seq, self._stream, data)
                await self._outbox.put(worker_pb2.WorkerMessage(log_chunk=chunk))
            if not self._buffer:
                self._pending.clear()

    async def run_timer(self) -> None:
        """Flush buffered output ``max_delay`` after it arrived; runs until cancelled."""
        while True:
            await self._pending.wait()
            await asyncio.sleep(self._max_delay)
            await self.flush()


class _Listener:
    """The executor's :class:`~xxci.worker.executor.ExecutionListener` for one attempt."""

    def __init__(self, key: AttemptKey, outbox: Outbox, batcher: LogBatcher) -> None:
        self._ref = attempt_ref(key)
        self._outbox = outbox
        self._batcher = batcher

    async def started(self, container: str, image_digest: str) -> None:
        await self._batcher.flush()
        msg = worker_pb2.JobStarted(ref=self._ref, container=container, image_digest=image_digest)
        await self._outbox.put(worker_pb2.WorkerMessage(job_started=msg))

    async def output(self, stream: str, data: bytes) -> None:
        await self._batcher.output(stream, data)

    async def step_finished(self, index: int, exit_code: int) -> None:
        await self._batcher.flush()
        msg = worker_pb2.StepFinished(ref=self._ref, index=index, exit_code=exit_code)
        await self._outbox.put(worker_pb2.WorkerMessage(step_finished=msg))


def attempt_dir_name(key: AttemptKey) -> str:
    """A file-system-safe, collision-free directory name for an attempt."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{key.run_id}-{key.job}-{key.attempt}")
    digest = hashlib.sha256(f"{key.run_id}\0{key.job}\0{key.attempt}".encode()).hexdigest()
    return f"{readable[:80]}-{digest[:10]}"


def _system_failure(message: str) -> ExecutionResult:
    return ExecutionResult(
        status=JobStatus.FAILED, failure_reason=FailureReason.SYSTEM_FAILURE, message=message
    )


class AttemptRunner:
    """Runs one attempt end to end; see the module docstring for the contract.

    ``source_blob`` and ``artifact_blobs`` are fetched into ``work_dir/<attempt>``
    (removed afterwards). Blob transfers retry while the orchestrator is unreachable,
    for up to ``fetch_retry_seconds`` / ``upload_retry_seconds``.
    """

    def __init__(
        self,
        key: AttemptKey,
        assignment: Assignment,
        source_blob: str,
        artifact_blobs: tuple[str, ...],
        outbox: Outbox,
        executor: Executor,
        channel: grpc.aio.Channel,
        target: str,
        work_dir: Path,
        grace_seconds: float = 10.0,
        fetch_retry_seconds: float = 60.0,
        upload_retry_seconds: float = 300.0,
    ) -> None:
        self.key = key
        self.assignment = assignment
        self._source_blob = source_blob
        self._artifact_blobs = artifact_blobs
        self._outbox = outbox
        self._executor = executor
        self._channel = channel
        self._target = target
        self._dir = work_dir / attempt_dir_name(key)
        self._grace = grace_seconds
        self._fetch_retry = fetch_retry_seconds
        self._upload_retry = upload_retry_seconds
        self._cancel = asyncio.Event()
        self._started = False

    def cancel(self, grace_seconds: float | None = None) -> None:
        """Ask the attempt to stop (the executor stops the job: SIGTERM, grace, SIGKILL).

        ``grace_seconds`` only applies if the executor has not started yet: the
        executor contract takes the grace when the run begins.
        """
        if grace_seconds is not None and not self._started:
            self._grace = grace_seconds
        self._cancel.set()

    async def run(self) -> None:
        batcher = LogBatcher(self.key, self._outbox)
        timer = asyncio.create_task(batcher.run_timer(), name=f"log batcher {self.key}")
        try:
            try:
                result, artifacts_blob = await self._run(batcher)
            except Exception as err:  # a bug here must not take the worker down
                log.exception("internal error running %s", self.key)
                result, artifacts_blob = _system_failure(f"internal worker error: {err}"), ""
            await batcher.flush()
            finished = job_finished(self.key, result, artifacts_blob)
            await self._outbox.put(worker_pb2.WorkerMessage(job_finished=finished))
        finally:
            timer.cancel()
            # gather, not suppress(CancelledError): a cancel of this task must go on.
            await asyncio.gather(timer, return_exceptions=True)
            self._outbox.close()
            await asyncio.to_thread(shutil.rmtree, self._dir, ignore_errors=True)

    async def _run(self, batcher: LogBatcher) -> tuple[ExecutionResult, str]:
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            workspace = await self._fetch()
        except (grpc.aio.AioRpcError, XxciError, OSError) as err:
            return _system_failure(f"cannot fetch the workspace: {self._describe(err)}"), ""
        if self._cancel.is_set():
            canceled = ExecutionResult(
                status=JobStatus.CANCELED,
                failure_reason=FailureReason.CANCELED,
                message="canceled before the job started",
            )
            return canceled, ""
        self._started = True
        listener = _Listener(self.key, self._outbox, batcher)
        try:
            result = await self._executor.run(
                self.assignment, workspace, listener, self._cancel, self._grace
            )
        except Exception as err:  # the executor must not raise; report it, keep the worker
            log.exception("executor crashed running %s", self.key)
            return _system_failure(f"the worker failed to run the job: {err}"), ""
        await batcher.flush()
        if result.artifacts is None:
            return result, ""
        return await self._upload_artifacts(result, result.artifacts)

    async def _fetch(self) -> Workspace:
        wanted = [(self._source_blob, self._dir / "source.tar")] if self._source_blob else []
        wanted += [
            (digest, self._dir / f"artifacts-{index}.tar")
            for index, digest in enumerate(self._artifact_blobs)
        ]
        for digest, path in wanted:
            await self._retrying(
                functools.partial(blobs.download, self._channel, digest, path),
                self._fetch_retry,
                honour_cancel=True,
            )
        paths = [path for _, path in wanted]
        if self._source_blob:
            return Workspace(source=paths[0], artifacts=tuple(paths[1:]))
        return Workspace(artifacts=tuple(paths))

    async def _upload_artifacts(
        self, result: ExecutionResult, archive: Path
    ) -> tuple[ExecutionResult, str]:
        try:
            digest = await self._retrying(
                lambda: blobs.upload_file(self._channel, archive), self._upload_retry
            )
        except (grpc.aio.AioRpcError, XxciError, OSError) as err:
            message = f"cannot upload the artifacts: {self._describe(err)}"
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
        """``op()``, retried with backoff while the orchestrator is UNAVAILABLE.

        With ``honour_cancel``, a cancel of the attempt ends the retries.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        delay = 0.5
        while True:
            try:
                return await op()
            except grpc.aio.AioRpcError as err:
                if (
                    err.code() != grpc.StatusCode.UNAVAILABLE
                    or loop.time() + delay > deadline
                    or (honour_cancel and self._cancel.is_set())
                ):
                    raise
                log.warning(
                    "%s: blob transfer failed (%s); retrying in %.1fs",
                    self.key,
                    self._describe(err),
                    delay,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    def _describe(self, err: BaseException) -> str:
        if isinstance(err, grpc.aio.AioRpcError):
            return str(translate_rpc_error(err, self._target))
        return str(err)
