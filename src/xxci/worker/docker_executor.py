"""The Docker executor: one container per job attempt, driven through the engine API.

Per attempt: pull the image if it is absent; create a container labelled
``xxci.run``/``xxci.job``/``xxci.attempt``; copy the job script (see
:mod:`xxci.worker.script`), the source tree and earlier artifacts in with the archive
API (no bind mounts, so a remote engine works the same); attach, start, and stream
output while the script's step markers are turned into ``$ command`` lines and
``step_finished`` calls, stdout and stderr put in command order (see
:mod:`xxci.worker.transcript`); enforce the timeout and the cancel (SIGTERM, grace,
SIGKILL); collect artifacts from the stopped container; remove it, whatever happened.

The container runs Docker's init (``HostConfig.Init``, tini) as PID 1 with
``TINI_KILL_PROCESS_GROUP=1``: a SIGTERM reaches the job's shell *and* the command it
is running, and zombies are reaped.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import secrets
import socket
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xxci.common.spec.durations import format_duration
from xxci.common.spec.model import ArtifactWhen
from xxci.common.status import FailureReason, JobStatus
from xxci.worker.artifacts import ArtifactPattern, InvalidPattern, fetch_roots, write_selection
from xxci.worker.docker_api import (
    Container,
    DockerEngine,
    DockerError,
    ImageInfo,
    ImagePullFailed,
)
from xxci.worker.executor import Assignment, ExecutionListener, ExecutionResult, Workspace
from xxci.worker.script import StepBegan, render_wrapper
from xxci.worker.transcript import StreamOutput, Transcript, TranscriptEvent

__all__ = ["LABEL_ATTEMPT", "LABEL_JOB", "LABEL_RUN", "DockerExecutor"]

log = logging.getLogger(__name__)

LABEL_RUN = "xxci.run"
LABEL_JOB = "xxci.job"
LABEL_ATTEMPT = "xxci.attempt"
LABEL_HOST = "xxci.worker.host"
LABEL_PID = "xxci.worker.pid"
"""Which worker process made a container: how a restarted worker finds the containers
of a predecessor that died (``remove_orphans``)."""

WORKSPACE = "/workspace"
SCRIPT_DIR = ".xxci"
SCRIPT_PATH = f"/{SCRIPT_DIR}/run.sh"

_DRAIN_SECONDS = 10.0
"""How long output may keep arriving after the container stopped."""
_KILL_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class DockerExecutor:
    """Runs attempts in containers on the engine at ``docker_url`` (None: DOCKER_HOST,
    then the default socket). Artifact archives are written to ``artifact_dir`` (None:
    the system temp dir); the caller owns and deletes them."""

    docker_url: str | None = None
    artifact_dir: Path | None = None

    async def remove_orphans(self) -> list[str]:
        """Remove the containers that worker processes of this host left behind when they
        died (a kill -9 skips the cleanup every attempt does). Containers of live worker
        processes, and of other hosts sharing the engine, are left alone."""
        host = socket.gethostname()
        removed = []
        async with DockerEngine(self.docker_url) as engine:
            for container_id, labels in await engine.labelled({LABEL_HOST: host}):
                pid = labels.get(LABEL_PID, "")
                if pid.isdigit() and _alive(int(pid)):
                    continue
                await engine.container(container_id).remove()
                removed.append(container_id)
        return removed

    async def run(
        self,
        assignment: Assignment,
        workspace: Workspace,
        listener: ExecutionListener,
        cancel: asyncio.Event,
        grace_seconds: float = 10.0,
    ) -> ExecutionResult:
        """Run one attempt to its end; see :class:`xxci.worker.executor.Executor`."""
        attempt = _Attempt(self, assignment, workspace, _Serial(listener), cancel, grace_seconds)
        try:
            async with DockerEngine(self.docker_url) as engine:
                return await attempt.run(engine)
        except DockerError as exc:
            log.warning("attempt %s failed in Docker: %s", attempt.label, exc, exc_info=True)
            return ExecutionResult(
                JobStatus.FAILED, failure_reason=FailureReason.SYSTEM_FAILURE, message=str(exc)
            )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


class _Serial:
    """Passes listener calls on one at a time (the pump and the supervisor both talk)."""

    def __init__(self, inner: ExecutionListener) -> None:
        self._inner = inner
        self._lock = asyncio.Lock()

    async def started(self, container: str, image_digest: str) -> None:
        async with self._lock:
            await self._inner.started(container, image_digest)

    async def output(self, stream: str, data: bytes) -> None:
        async with self._lock:
            await self._inner.output(stream, data)

    async def system(self, line: str) -> None:
        await self.output("system", (line.rstrip("\n") + "\n").encode())

    async def step_finished(self, index: int, exit_code: int) -> None:
        async with self._lock:
            await self._inner.step_finished(index, exit_code)


@dataclass
class _Steps:
    """What the markers said so far."""

    open: int | None = None
    ended: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Exited:
    code: int


@dataclass(frozen=True)
class _Stopped:
    """Stopped by xxci: a timeout or a cancel."""

    reason: FailureReason


class _Attempt:
    def __init__(
        self,
        executor: DockerExecutor,
        assignment: Assignment,
        workspace: Workspace,
        listener: _Serial,
        cancel: asyncio.Event,
        grace_seconds: float,
    ) -> None:
        self.executor = executor
        self.job = assignment
        self.workspace = workspace
        self.listener = listener
        self.cancel = cancel
        self.grace = max(0.0, grace_seconds)
        self.nonce = secrets.token_hex(16)
        self.steps = _Steps()
        self.transcript = Transcript(self.nonce, len(assignment.script))
        self.label = f"{assignment.run_id}/{assignment.job}#{assignment.attempt}"

    async def run(self, engine: DockerEngine) -> ExecutionResult:
        if self.cancel.is_set():
            return _canceled()
        try:
            image = await self._image(engine)
        except ImagePullFailed as exc:
            return ExecutionResult(
                JobStatus.FAILED,
                failure_reason=FailureReason.IMAGE_PULL_FAILURE,
                message=str(exc),
            )
        if image is None:
            return _canceled()
        container = await engine.create_container(self._config(), name=self._name())
        try:
            return await self._run_in(container, image)
        finally:
            try:
                await container.remove()
            except DockerError:
                log.exception("could not remove container %s of %s", container.id, self.label)

    async def _image(self, engine: DockerEngine) -> ImageInfo | None:
        """The image, pulled if absent; None if canceled while pulling."""
        ref = self.job.image
        found = await engine.image(ref)
        if found is not None:
            return found
        pull = asyncio.ensure_future(engine.pull(ref))
        canceled = asyncio.ensure_future(self.cancel.wait())
        try:
            await asyncio.wait({pull, canceled}, return_when=asyncio.FIRST_COMPLETED)
            if not pull.done():
                return None
            await pull
        finally:
            for task in (pull, canceled):
                task.cancel()
            await asyncio.gather(pull, canceled, return_exceptions=True)
        found = await engine.image(ref)
        if found is None:
            raise ImagePullFailed(ref, "the engine reported success but has no such image")
        return found

    def _config(self) -> dict[str, Any]:
        env = [f"{k}={v}" for k, v in self.job.variables.items()]
        # tini (the container's init) signals the whole process group: the script's
        # shell and whatever command it runs get the SIGTERM of a cancel.
        env.append("TINI_KILL_PROCESS_GROUP=1")
        return {
            "Image": self.job.image,
            "Entrypoint": ["/bin/sh", SCRIPT_PATH],
            "Cmd": [],
            "WorkingDir": WORKSPACE,
            "Env": env,
            "Labels": {
                LABEL_RUN: self.job.run_id,
                LABEL_JOB: self.job.job,
                LABEL_ATTEMPT: str(self.job.attempt),
                LABEL_HOST: socket.gethostname(),
                LABEL_PID: str(os.getpid()),
            },
            "AttachStdin": False,
            "AttachStdout": True,
            "AttachStderr": True,
            "OpenStdin": False,
            "Tty": False,
            "HostConfig": {"Init": True},
        }

    def _name(self) -> str:
        raw = f"xxci-{self.job.run_id}-{self.job.job}-{self.job.attempt}-{self.nonce[:8]}"
        return re.sub(r"[^a-zA-Z0-9_.-]+", "_", raw)[-120:].lstrip("_.-") or self.nonce

    async def _run_in(self, container: Container, image: ImageInfo) -> ExecutionResult:
        await container.put_archive("/", _bootstrap(render_wrapper(self.job.script, self.nonce)))
        if self.workspace.source is not None:
            await container.put_archive(WORKSPACE, self.workspace.source)
        for artifacts in self.workspace.artifacts:
            await container.put_archive(WORKSPACE, artifacts)
        if self.cancel.is_set():  # canceled while the files went in: never start
            return _canceled()
        async with container.attach() as frames:
            await container.start()
            await self.listener.started(container.id, image.digest)
            pump = asyncio.ensure_future(self._pump(frames))
            try:
                ending = await self._supervise(container, pump)
                await self._drain(pump)
            finally:
                pump.cancel()
                await asyncio.gather(pump, return_exceptions=True)
        # What a pump that was given up on still held (nothing once the output ended).
        await self._emit(self.transcript.finish())
        result = await self._result(ending)
        if self._collects(result.status):
            result = await self._with_artifacts(container, result)
        return result

    async def _pump(self, frames: Any) -> None:
        """Output to the listener, markers to step reports, as the transcript releases
        them."""
        async for stream, data in frames:
            await self._emit(self.transcript.feed(stream, data))
        await self._emit(self.transcript.finish())

    async def _emit(self, events: list[TranscriptEvent]) -> None:
        for event in events:
            await self._on_event(event)

    async def _on_event(self, event: TranscriptEvent) -> None:
        if isinstance(event, StreamOutput):
            await self.listener.output(event.stream, event.data)
        elif isinstance(event, StepBegan):  # the transcript only lets valid indices pass
            self.steps.open = event.index
            await self.listener.system(f"$ {self.job.script[event.index]}")
        elif event.index not in self.steps.ended and 0 <= event.index < len(self.job.script):
            self.steps.open = None
            self.steps.ended[event.index] = event.exit_code
            await self.listener.step_finished(event.index, event.exit_code)

    async def _supervise(
        self, container: Container, pump: asyncio.Future[None]
    ) -> _Exited | _Stopped:
        """Wait for the container to exit, the timeout or the cancel, whichever first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.job.timeout_seconds
        waiter = asyncio.ensure_future(container.wait())
        canceled = asyncio.ensure_future(self.cancel.wait())
        try:
            watched: set[asyncio.Future[Any]] = {waiter, canceled, pump}
            while True:
                remaining = max(0.0, deadline - loop.time())
                done, _ = await asyncio.wait(
                    watched, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                if pump in done:
                    pump.result()  # the listener failed: let it be seen
                    watched.discard(pump)  # output closed: the container is stopping
                    continue
                if waiter in done:
                    return _Exited(waiter.result())
                if canceled in done:
                    await self.listener.system(
                        f"job canceled: stopping it (SIGTERM, then SIGKILL after "
                        f"{format_duration(self.grace)})"
                    )
                    await self._stop(container, waiter, self.grace)
                    return _Stopped(FailureReason.CANCELED)
                await self.listener.system(
                    f"job exceeded its timeout of {format_duration(self.job.timeout_seconds)}"
                )
                await self._stop(container, waiter, 0.0)
                return _Stopped(FailureReason.TIMEOUT)
        finally:
            for task in (waiter, canceled):
                task.cancel()
            await asyncio.gather(waiter, canceled, return_exceptions=True)

    async def _stop(self, container: Container, waiter: asyncio.Future[int], grace: float) -> None:
        if grace > 0:
            await container.signal("SIGTERM")
            await asyncio.wait({waiter}, timeout=grace)
            if waiter.done():
                return
            await self.listener.system("job still running after the grace period: SIGKILL")
        await container.signal("SIGKILL")
        await asyncio.wait({waiter}, timeout=_KILL_WAIT_SECONDS)

    async def _drain(self, pump: asyncio.Future[None]) -> None:
        """Let the last output arrive; the stream ends when the container has stopped."""
        await asyncio.wait({pump}, timeout=_DRAIN_SECONDS)
        if pump.done():
            pump.result()
        else:
            log.warning("output of %s did not end after the container stopped", self.label)

    async def _result(self, ending: _Exited | _Stopped) -> ExecutionResult:
        if isinstance(ending, _Stopped):
            if ending.reason is FailureReason.CANCELED:
                return _canceled()
            return ExecutionResult(
                JobStatus.FAILED,
                failure_reason=FailureReason.TIMEOUT,
                message=f"job exceeded its timeout of {format_duration(self.job.timeout_seconds)}",
            )
        code = ending.code
        if self.steps.open is not None:
            # The step ended the shell without an end marker (its own EXIT trap, a
            # signal): the container's status is the step's.
            index, self.steps.open = self.steps.open, None
            self.steps.ended[index] = code
            await self.listener.step_finished(index, code)
        if code == 0:
            return ExecutionResult(JobStatus.SUCCESS, exit_code=0)
        failed = [i for i, rc in self.steps.ended.items() if rc != 0]
        if failed:
            index = max(failed)
            command = self.job.script[index].strip().splitlines()[0] if self.job.script else ""
            message = f"command {index + 1} failed with exit code {code}: {command}"
        else:
            message = f"script failed with exit code {code}"
        return ExecutionResult(
            JobStatus.FAILED,
            exit_code=code,
            failure_reason=FailureReason.SCRIPT_FAILURE,
            message=message,
        )

    def _collects(self, status: JobStatus) -> bool:
        when = self.job.artifact_when
        if not self.job.artifact_paths or status is JobStatus.CANCELED:
            return False
        if when is ArtifactWhen.ALWAYS:
            return True
        wanted = JobStatus.SUCCESS if when is ArtifactWhen.ON_SUCCESS else JobStatus.FAILED
        return status is wanted

    async def _with_artifacts(
        self, container: Container, result: ExecutionResult
    ) -> ExecutionResult:
        patterns: list[ArtifactPattern] = []
        for text in self.job.artifact_paths:
            try:
                patterns.append(ArtifactPattern.parse(text))
            except InvalidPattern as exc:
                await self.listener.system(f"artifacts: {exc}; ignored")
        if not patterns:
            return result
        dest, count = await _collect(container, patterns, self.executor.artifact_dir)
        if dest is None:
            paths = ", ".join(self.job.artifact_paths)
            await self.listener.system(f"artifacts: no files matched {paths}")
            return result
        await self.listener.system(f"artifacts: collected {count} entries")
        return ExecutionResult(
            result.status,
            exit_code=result.exit_code,
            failure_reason=result.failure_reason,
            message=result.message,
            artifacts=dest,
        )


async def _collect(
    container: Container, patterns: Sequence[ArtifactPattern], directory: Path | None
) -> tuple[Path | None, int]:
    """The workspace files ``patterns`` select, as an archive in ``directory`` (None if
    nothing matched), and how many entries it holds."""
    archives: list[tuple[str, tarfile.TarFile]] = []
    try:
        for root in fetch_roots(patterns):
            archive = await container.get_archive(f"{WORKSPACE}/{root}" if root else WORKSPACE)
            if archive is not None:
                archives.append((root, archive))
        return await asyncio.to_thread(write_selection, archives, patterns, directory)
    finally:
        for _, archive in archives:
            archive.close()


def _bootstrap(wrapper: str) -> bytes:
    """A tar, unpacked at ``/``, holding ``/workspace/`` and the job script."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, mode in (("workspace", 0o755), (SCRIPT_DIR, 0o700)):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = mode
            tar.addfile(info)
        data = wrapper.encode()
        info = tarfile.TarInfo(SCRIPT_PATH.lstrip("/"))
        info.size = len(data)
        info.mode = 0o600
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _canceled() -> ExecutionResult:
    return ExecutionResult(
        JobStatus.CANCELED, failure_reason=FailureReason.CANCELED, message="job canceled"
    )
