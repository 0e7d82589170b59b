"""The Docker executor: one container per job attempt, driven through the engine API.

:class:`DockerExecutor` implements :class:`xxci.worker.executor.Executor`: each attempt
gets a fresh engine connection and a :class:`~xxci.worker.docker.supervisor.Supervisor`
that drives its container; an engine failure becomes a FAILED ``system_failure``
result. Containers carry labels naming the worker process that made them, so a
restarted worker removes what a predecessor that died left behind
(:meth:`DockerExecutor.remove_orphans`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from xxci.common.spec.model import AFTER_SCRIPT_TIMEOUT_SECONDS
from xxci.common.status import FailureReason, JobStatus
from xxci.worker.docker.container_config import LABEL_HOST, LABEL_PID
from xxci.worker.docker.container_files import BodyCache
from xxci.worker.docker.engine import DockerEngine, DockerError, DockerUnavailable
from xxci.worker.docker.images import ImageCache
from xxci.worker.docker.output import SerialListener
from xxci.worker.docker.supervisor import Supervisor
from xxci.worker.docker.unpack import UnpackPolicy, engine_is_local
from xxci.worker.executor import Assignment, ExecutionListener, ExecutionResult, Workspace

__all__ = ["DockerExecutor"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DockerExecutor:
    """Runs attempts in containers on the engine at ``docker_url`` (None: DOCKER_HOST,
    then the default socket). Artifact archives are written to ``artifact_dir`` (None:
    the system temp dir); the caller owns and deletes them. ``bodies`` keeps workspace
    archives ready to copy into containers (by default, none is kept past its job);
    ``images`` remembers the image each run's jobs resolved to (once per run and
    image name). The engine API version is asked once, by the first attempt; the
    attempts after it speak the same."""

    docker_url: str | None = None
    artifact_dir: Path | None = None
    bodies: BodyCache = field(default_factory=lambda: BodyCache(keep=0))
    images: ImageCache = field(default_factory=ImageCache)
    default_image: str | None = None
    """The image of a job that names none (a ``.gitlab-ci.yml`` job without ``image``);
    None: the local ``xxci-test/busybox:latest`` if the engine has it, else
    ``alpine:latest``."""
    after_script_limit: float = AFTER_SCRIPT_TIMEOUT_SECONDS
    """The time bound of an after_script that runs after a timeout or a cancel."""
    unpack_in_container: bool | None = None
    """Whether containers unpack their workspace from bind mounts rather than have the
    engine copy it in (see :mod:`xxci.worker.docker.unpack`); None: when the engine is
    reached through a Unix socket."""
    _unpack: UnpackPolicy = field(init=False, repr=False, compare=False)
    _api_version: list[str] = field(
        default_factory=lambda: ["auto"], init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        enabled = self.unpack_in_container
        if enabled is None:
            enabled = engine_is_local(self.docker_url, os.environ)
        object.__setattr__(self, "_unpack", UnpackPolicy(enabled))

    service_settle_seconds: float = 1.0
    """How long services must stay up after they start for the job to start."""

    async def remove_orphans(self, only: Mapping[str, str] | None = None) -> list[str]:
        """Remove the containers (jobs' and services') and the networks that worker
        processes of this host left behind when they died (a kill -9 skips the cleanup
        every attempt does); the IDs removed. Those of live worker processes, and of
        other hosts sharing the engine, are left alone; with ``only``, so are those that
        do not carry these labels too."""
        wanted = {**(only or {}), LABEL_HOST: socket.gethostname()}
        removed = []
        async with self._engine() as engine:
            for container_id, labels in await engine.labelled(wanted):
                if _orphan(labels) and await _removing(engine.container(container_id).remove()):
                    removed.append(container_id)
            for network_id, labels in await engine.labelled_networks(wanted):
                if _orphan(labels) and await _removing(engine.remove_network(network_id)):
                    removed.append(network_id)
        return removed

    async def run(
        self,
        assignment: Assignment,
        workspace: Workspace,
        listener: ExecutionListener,
        cancel: asyncio.Event,
        grace_seconds: float = 10.0,
        kill: asyncio.Event | None = None,
    ) -> ExecutionResult:
        """Run one attempt to its end; see :class:`xxci.worker.executor.Executor`."""
        label = f"{assignment.run_id}/{assignment.job}#{assignment.attempt}"
        try:
            async with self._engine() as engine:
                if not assignment.image:
                    assignment = replace(assignment, image=await self._default_image(engine))
                supervisor = Supervisor(
                    assignment,
                    workspace,
                    SerialListener(listener),
                    cancel,
                    grace_seconds,
                    self.artifact_dir,
                    self.bodies,
                    images=self.images,
                    unpack=self._unpack,
                    kill=kill,
                    after_script_limit=self.after_script_limit,
                    service_settle_seconds=self.service_settle_seconds,
                )
                return await supervisor.run(engine)
        except DockerError as exc:
            log.warning("attempt %s failed in Docker: %s", label, exc, exc_info=True)
            return ExecutionResult(
                JobStatus.FAILED, failure_reason=FailureReason.SYSTEM_FAILURE, message=str(exc)
            )

    @contextlib.asynccontextmanager
    async def _engine(self) -> AsyncIterator[DockerEngine]:
        """A connection to the engine, speaking the API version the last one settled."""
        async with DockerEngine(self.docker_url, self._api_version[0]) as engine:
            try:
                yield engine
            finally:
                self._api_version[0] = engine.api_version

    async def _default_image(self, engine: DockerEngine) -> str:
        if self.default_image:
            return self.default_image
        if await engine.image(LOCAL_DEFAULT_IMAGE) is not None:
            return LOCAL_DEFAULT_IMAGE
        return FALLBACK_IMAGE


LOCAL_DEFAULT_IMAGE = "xxci-test/busybox:latest"
"""The image ``make`` builds from Debian's busybox: no registry needed."""
FALLBACK_IMAGE = "alpine:latest"


async def _removing(removal: Awaitable[None]) -> bool:
    """Whether ``removal`` succeeded; one orphan that resists is logged and left for the
    next sweep, not a reason to leave the others (an unreachable engine still raises)."""
    try:
        await removal
    except DockerUnavailable:
        raise
    except DockerError as exc:
        log.warning("could not remove an orphan: %s", exc)
        return False
    return True


def _orphan(labels: dict[str, str]) -> bool:
    pid = labels.get(LABEL_PID, "")
    return not (pid.isdigit() and _alive(int(pid)))


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
