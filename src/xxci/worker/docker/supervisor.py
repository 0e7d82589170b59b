"""Driving one attempt's container from its image to its removal.

Find the image (once per run and name, see :mod:`xxci.worker.docker.images`), pulled
if it is absent; start the job's services on a network of its own (see
:mod:`xxci.worker.docker.services`); create the container from the image's ID (see
:mod:`xxci.worker.docker.container_config`); give it the source tree, restored caches
and earlier artifacts: bind-mounted for it to unpack itself when the engine runs on
this host (see :mod:`xxci.worker.docker.unpack`; a job whose image cannot runs again
with the copy), else copied in, in one archive with the file secrets (see
:mod:`xxci.worker.docker.container_files`); attach, start, and stream the output (see
:mod:`xxci.worker.docker.output`); enforce the timeout and the cancel (SIGTERM, grace,
SIGKILL; a kill skips or cuts short the grace), then run the after_script of a job so
stopped (see :mod:`xxci.worker.docker.after_phase`); collect caches and artifacts from
the stopped container; keep the services' logs; remove container, services and
network, whatever happened.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xxci.common.spec.durations import format_duration
from xxci.common.spec.model import AFTER_SCRIPT_TIMEOUT_SECONDS
from xxci.common.status import FailureReason, JobStatus
from xxci.worker.docker.after_phase import run_after_script
from xxci.worker.docker.artifact_collection import with_artifacts
from xxci.worker.docker.cache_collection import with_caches
from xxci.worker.docker.container_config import (
    container_config,
    container_name,
    script_file,
    secret_files,
)
from xxci.worker.docker.container_files import BodyCache, archive_stream, header
from xxci.worker.docker.engine import (
    Container,
    DockerEngine,
    DockerError,
    ImageInfo,
    ImagePullFailed,
)
from xxci.worker.docker.images import ImageCache
from xxci.worker.docker.output import SerialListener, StepOutput
from xxci.worker.docker.script import render_job
from xxci.worker.docker.services import Services
from xxci.worker.docker.unpack import (
    UnpackPolicy,
    ready_marker,
    unpack_mounts,
    unpack_program,
    until_ready,
)
from xxci.worker.executor import Assignment, ExecutionResult, Workspace

__all__ = ["Supervisor", "canceled"]

log = logging.getLogger(__name__)

_DRAIN_SECONDS = 10.0
"""How long output may keep arriving after the container stopped."""
_KILL_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class _Exited:
    code: int


@dataclass(frozen=True)
class _Stopped:
    """Stopped by xxci: a timeout or a cancel."""

    reason: FailureReason


@dataclass(frozen=True)
class _NotUnpacked:
    """The container could not unpack its workspace itself: the job has not begun."""

    image_id: str


Frames = AsyncIterator[tuple[str, bytes]]


def canceled() -> ExecutionResult:
    """The result of an attempt canceled before or while it ran."""
    return ExecutionResult(
        JobStatus.CANCELED, failure_reason=FailureReason.CANCELED, message="job canceled"
    )


class Supervisor:
    """Runs one attempt in a container of ``engine``; see the module docstring.

    Artifact archives are written to ``artifact_dir`` (None: the system temp dir);
    workspace archives are unpacked through ``bodies``; the image is resolved through
    ``images``; ``unpack`` says whether the container may unpack its workspace itself.
    ``kill`` (with ``cancel``) stops the job without a grace.
    """

    def __init__(
        self,
        job: Assignment,
        workspace: Workspace,
        listener: SerialListener,
        cancel: asyncio.Event,
        grace_seconds: float,
        artifact_dir: Path | None,
        bodies: BodyCache,
        *,
        images: ImageCache | None = None,
        unpack: UnpackPolicy | None = None,
        kill: asyncio.Event | None = None,
        after_script_limit: float = AFTER_SCRIPT_TIMEOUT_SECONDS,
        service_settle_seconds: float = 1.0,
    ) -> None:
        self.job = job
        self.label = f"{job.run_id}/{job.job}#{job.attempt}"
        self._workspace = workspace
        self._listener = listener
        self._cancel = cancel
        self._kill = kill or asyncio.Event()
        self._grace = max(0.0, grace_seconds)
        self._artifact_dir = artifact_dir
        self._bodies = bodies
        self._after_limit = after_script_limit
        self._images = images or ImageCache(keep=0)
        self._unpack = unpack or UnpackPolicy(enabled=False)
        self._settle = service_settle_seconds
        self._network: str | None = None
        self._nonce = secrets.token_hex(16)
        self._wrapper = render_job(job.script, job.after_script, self._nonce)
        self._output = StepOutput(job.script, self._nonce, listener, job.after_script)

    async def run(self, engine: DockerEngine) -> ExecutionResult:
        if self._cancel.is_set():
            return canceled()
        try:
            image = await self._image(engine)
        except ImagePullFailed as exc:
            return _pull_failed(exc)
        if image is None:
            return canceled()
        host, pid = socket.gethostname(), os.getpid()
        services = Services(engine, self.job, self._nonce, host, pid, self._listener, self._settle)
        try:
            failed = await services.start(self._cancel)
            if failed is not None:
                return failed
            if self._cancel.is_set():
                return canceled()
            self._network = services.network
            workspace = self._workspace
            source = [workspace.source] if workspace.source is not None else []
            archives = [*source, *workspace.caches, *workspace.artifacts]
            async with self._bodies.bodies(archives) as bodies:
                # File secrets go in with the copy: they never touch this host's disk.
                unpack = (
                    bool(bodies)
                    and script_file(self._wrapper) is None
                    and not secret_files(self.job)
                )
                outcome = await self._attempt(
                    engine, image, bodies, unpack and self._unpack.usable(image.id)
                )
                if isinstance(outcome, _NotUnpacked):
                    log.info("the image of %s cannot unpack the workspace: copying it", self.label)
                    self._unpack.image_cannot(outcome.image_id)
                    outcome = await self._attempt(engine, image, bodies, False)
            assert not isinstance(outcome, _NotUnpacked)  # (only an unpacking attempt says so)
            return outcome
        finally:
            try:
                await services.keep_logs()
            finally:
                await services.remove()

    async def _attempt(
        self, engine: DockerEngine, image: ImageInfo, bodies: Sequence[Path], unpack: bool
    ) -> ExecutionResult | _NotUnpacked:
        """One container for the job, with its workspace ``bodies`` to ``unpack`` itself
        or copied in, from its start to its removal."""
        made = await self._create(engine, image, bodies if unpack else ())
        if isinstance(made, ExecutionResult):
            return made
        container, image, unpacking = made
        try:
            return await self._run_in(container, image, bodies, unpacking)
        finally:
            try:
                await container.remove()
            except DockerError:
                log.exception("could not remove container %s of %s", container.id, self.label)

    async def _create(
        self, engine: DockerEngine, image: ImageInfo, unpack_from: Sequence[Path]
    ) -> tuple[Container, ImageInfo, bool] | ExecutionResult:
        """The container, made to unpack ``unpack_from`` unless the engine cannot bind
        them, from the image resolved again if it was removed meanwhile; or why none
        could be made."""
        mounts = unpack_mounts(unpack_from)
        try:
            return await self._create_from(engine, image, mounts), image, bool(mounts)
        except DockerError as exc:
            if exc.status == 400 and mounts:  # the engine cannot see this host's files
                log.warning("the Docker engine cannot bind the workspace (%s): copying it", exc)
                self._unpack.engine_cannot()
                return await self._create(engine, image, ())
            if exc.status != 404:
                raise
        # The image this run resolved to was removed meanwhile: find it again.
        self._images.forget(self.job.run_id, self.job.image)
        try:
            found = await self._image(engine)
        except ImagePullFailed as exc:
            return _pull_failed(exc)
        if found is None:
            return canceled()
        return await self._create_from(engine, found, mounts), found, bool(mounts)

    async def _create_from(
        self, engine: DockerEngine, image: ImageInfo, mounts: list[dict[str, Any]]
    ) -> Container:
        program = unpack_program(len(mounts), self._nonce) if mounts else None
        config = container_config(
            self.job,
            socket.gethostname(),
            os.getpid(),
            self._wrapper,
            image=image.id,
            unpack=(program, mounts) if program else None,
            network=self._network,
        )
        return await engine.create_container(config, name=container_name(self.job, self._nonce))

    async def _image(self, engine: DockerEngine) -> ImageInfo | None:
        """The image, pulled if absent; None if canceled while pulling."""
        ref = self.job.image
        found = await self._images.resolve(self.job.run_id, ref, lambda: engine.image(ref))
        if found is not None:
            return found
        pull = asyncio.ensure_future(engine.pull(ref))
        canceled = asyncio.ensure_future(self._cancel.wait())
        try:
            await asyncio.wait({pull, canceled}, return_when=asyncio.FIRST_COMPLETED)
            if not pull.done():
                return None
            await pull
        finally:
            for task in (pull, canceled):
                task.cancel()
            await asyncio.gather(pull, canceled, return_exceptions=True)
        found = await self._images.resolve(self.job.run_id, ref, lambda: engine.image(ref))
        if found is None:
            raise ImagePullFailed(ref, "the engine reported success but has no such image")
        return found

    async def _run_in(
        self, container: Container, image: ImageInfo, bodies: Sequence[Path], unpacking: bool
    ) -> ExecutionResult | _NotUnpacked:
        if not unpacking:
            await self._copy_files(container, bodies)
        if self._cancel.is_set():  # canceled while the files went in: never start
            return canceled()
        async with container.attach() as frames:
            await container.start()
            held: list[tuple[str, bytes]] = []
            if unpacking:
                unpacked = await self._unpacked(container, frames)
                if unpacked is None:
                    return _NotUnpacked(image.id)
                if isinstance(unpacked, ExecutionResult):
                    return unpacked
                held = unpacked
            await self._listener.started(container.id, image.digest)
            pump = asyncio.ensure_future(self._output.pump(_chain(held, frames)))
            try:
                ending = await self._supervise(container, pump)
                await self._drain(pump)
            finally:
                pump.cancel()
                await asyncio.gather(pump, return_exceptions=True)
        # What a pump that was given up on still held (nothing once the output ended).
        await self._output.finish()
        await self._after_stop(container, ending)
        result = await self._result(ending)
        result = await with_caches(
            container, self.job, self._workspace, result, self._listener, self._artifact_dir
        )
        return await with_artifacts(
            container, self.job, result, self._listener, self._artifact_dir, self._workspace
        )

    async def _after_stop(self, container: Container, ending: _Exited | _Stopped) -> None:
        """A job stopped by a timeout or a cancel before its after_script began still
        gets it (see :mod:`xxci.worker.docker.after_phase`); a killed one does not."""
        if not isinstance(ending, _Stopped) or not self.job.after_script:
            return
        if self._kill.is_set() or self._output.after_script_began:
            return
        status = "canceled" if ending.reason is FailureReason.CANCELED else "failed"
        output = StepOutput(self.job.script, self._nonce, self._listener, self.job.after_script)
        await run_after_script(
            container, output, self._listener, status, self._kill, self._after_limit
        )

    async def _copy_files(self, container: Container, bodies: Sequence[Path]) -> None:
        """The workspace (the source, the restored caches, then earlier artifacts, as
        GitLab's runner lays them out), the file secrets and, if not inline, the
        script: one archive, or none at all."""
        script = script_file(self._wrapper)
        files = secret_files(self.job)
        if not bodies and script is None and not files:
            return  # the engine makes the working directory
        await container.put_archive("/", archive_stream(header(script, files), bodies))

    async def _unpacked(
        self, container: Container, frames: Frames
    ) -> list[tuple[str, bytes]] | ExecutionResult | None:
        """Wait until the container has unpacked its workspace: the output that came
        with the news; None if it could not; the result if the job was canceled or
        timed out first (the container is killed)."""
        ready = asyncio.ensure_future(until_ready(frames, ready_marker(self._nonce)))
        canceled_ = asyncio.ensure_future(self._cancel.wait())
        try:
            await asyncio.wait(
                {ready, canceled_},
                timeout=self.job.timeout_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if ready.done():
                return ready.result()
        finally:
            for task in (ready, canceled_):
                task.cancel()
            await asyncio.gather(ready, canceled_, return_exceptions=True)
        await container.signal("SIGKILL")
        if self._cancel.is_set():
            return canceled()
        await self._listener.system(self._timeout_message())
        return ExecutionResult(
            JobStatus.FAILED, failure_reason=FailureReason.TIMEOUT, message=self._timeout_message()
        )

    async def _supervise(
        self, container: Container, pump: asyncio.Future[None]
    ) -> _Exited | _Stopped:
        """Wait for the container to exit, the timeout or the cancel, whichever first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.job.timeout_seconds
        waiter = asyncio.ensure_future(container.wait())
        canceled = asyncio.ensure_future(self._cancel.wait())
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
                    if self._kill.is_set():
                        await self._listener.system("job no longer ours: killing it (SIGKILL)")
                        await self._stop(container, waiter, 0.0)
                        return _Stopped(FailureReason.CANCELED)
                    await self._listener.system(
                        f"job canceled: stopping it (SIGTERM, then SIGKILL after "
                        f"{format_duration(self._grace)})"
                    )
                    await self._stop(container, waiter, self._grace)
                    return _Stopped(FailureReason.CANCELED)
                await self._listener.system(self._timeout_message())
                await self._stop(container, waiter, 0.0)
                return _Stopped(FailureReason.TIMEOUT)
        finally:
            for task in (waiter, canceled):
                task.cancel()
            await asyncio.gather(waiter, canceled, return_exceptions=True)

    async def _stop(self, container: Container, waiter: asyncio.Future[int], grace: float) -> None:
        if grace > 0:
            await container.signal("SIGTERM")
            killed = asyncio.ensure_future(self._kill.wait())
            watched: set[asyncio.Future[Any]] = {waiter, killed}
            try:
                await asyncio.wait(watched, timeout=grace, return_when=asyncio.FIRST_COMPLETED)
            finally:
                killed.cancel()
                await asyncio.gather(killed, return_exceptions=True)
            if waiter.done():
                return
            if self._kill.is_set():
                await self._listener.system("job no longer ours: killing it (SIGKILL)")
            else:
                await self._listener.system("job still running after the grace period: SIGKILL")
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
                return canceled()
            return ExecutionResult(
                JobStatus.FAILED,
                failure_reason=FailureReason.TIMEOUT,
                message=self._timeout_message(),
            )
        await self._output.shell_exited(ending.code)
        if ending.code == 0:
            return ExecutionResult(JobStatus.SUCCESS, exit_code=0)
        return ExecutionResult(
            JobStatus.FAILED,
            exit_code=ending.code,
            failure_reason=FailureReason.SCRIPT_FAILURE,
            message=self._output.failure_message(ending.code),
        )

    def _timeout_message(self) -> str:
        return f"job exceeded its timeout of {format_duration(self.job.timeout_seconds)}"


def _pull_failed(exc: ImagePullFailed) -> ExecutionResult:
    return ExecutionResult(
        JobStatus.FAILED, failure_reason=FailureReason.IMAGE_PULL_FAILURE, message=str(exc)
    )


async def _chain(first: list[tuple[str, bytes]], rest: Frames) -> Frames:
    for frame in first:
        yield frame
    async for frame in rest:
        yield frame
