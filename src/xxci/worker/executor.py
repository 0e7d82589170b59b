"""What a worker asks of whatever runs a job: the executor contract.

The worker turns an ``AssignJob`` message into an :class:`Assignment`, fetches the
blobs it names to local files, and calls :meth:`Executor.run`. The executor reports
progress through :class:`ExecutionListener` as it happens and returns one
:class:`ExecutionResult`. It never raises for a job that failed: a failing script, a
timeout, an image that cannot be pulled and a cancel are all results.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from xxci.common.attempts import AttemptKey
from xxci.common.job_extras import GivenSecret
from xxci.common.spec.model import ArtifactWhen
from xxci.common.spec.services_cache import Cache, Service
from xxci.common.status import FailureReason, JobStatus


@dataclass(frozen=True)
class Assignment:
    """One attempt of one job, as the worker received it.

    ``source_blob`` (the source tree; "" for an empty workspace) and
    ``artifact_blobs`` (earlier jobs' artifacts, to unpack in order) are blob digests:
    the worker fetches them and hands the executor the files, as a :class:`Workspace`.
    """

    run_id: str
    job: str
    attempt: int
    stage: str
    image: str
    script: tuple[str, ...]
    variables: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float = 3600.0
    artifact_paths: tuple[str, ...] = ()
    artifact_when: ArtifactWhen = ArtifactWhen.ON_SUCCESS
    after_script: tuple[str, ...] = ()
    """Runs in a shell of its own after the script, whatever its result."""
    source_blob: str = ""
    artifact_blobs: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    """Replaces the image's entrypoint, the job's program its argument (empty or
    ``[""]``: the program is the entrypoint)."""
    image_entrypoint: bool = False
    """Without ``entrypoint``: the image's own ENTRYPOINT runs, the job's program its
    command (GitLab's way); else the program is the entrypoint."""
    prefer_bash: bool = False
    """Run the program in bash when the image has one (GitLab's runner's choice)."""
    artifact_exclude: tuple[str, ...] = ()
    artifact_untracked: bool = False
    """Every workspace file not in the source tree is an artifact too."""
    output_limit: int | None = None
    """Bytes of output kept (the orchestrator's limit); None: the worker's default."""
    artifact_limit: int | None = None
    """Bytes of files the artifacts may hold (the orchestrator's limit); None: no limit."""
    services: tuple[Service, ...] = ()
    caches: tuple[Cache, ...] = ()
    cache_scope: str = ""
    secrets: tuple[GivenSecret, ...] = ()
    masked_values: tuple[str, ...] = ()

    @property
    def environment(self) -> dict[str, str]:
        """The job's variables with its secrets: a secret's value (or, for a file
        secret, the path of its file, see :func:`secret_file_path`) wins over a
        variable of the same name."""
        env = dict(self.variables)
        for secret in self.secrets:
            if secret.file:
                env[secret.variable] = secret_file_path(secret)
            else:
                env[secret.variable] = secret.value.decode("utf-8", "replace")
        return env

    @property
    def key(self) -> AttemptKey:
        return AttemptKey(self.run_id, self.job, self.attempt)

    def collects_artifacts(self, status: JobStatus) -> bool:
        """Whether an attempt that ended ``status`` returns artifacts: it names artifact
        paths (or untracked files), was not canceled, and ``artifact_when`` takes ``status``."""
        if not (self.artifact_paths or self.artifact_untracked) or status is JobStatus.CANCELED:
            return False
        if self.artifact_when is ArtifactWhen.ALWAYS:
            return True
        if self.artifact_when is ArtifactWhen.ON_FAILURE:
            return status is JobStatus.FAILED
        return status is JobStatus.SUCCESS


SECRET_DIR = "/.xxci-secrets"
"""Where file secrets are put inside the job's container (gone with the container)."""


def secret_file_path(secret: GivenSecret) -> str:
    return f"{SECRET_DIR}/{secret.variable}"


@dataclass(frozen=True)
class Workspace:
    """Local files to put into ``/workspace`` before the script runs.

    ``source`` is a tar archive of the source tree (or None for an empty workspace);
    ``artifacts`` are tar archives of earlier jobs' artifacts, unpacked over it in order.
    """

    source: Path | None = None
    artifacts: tuple[Path, ...] = ()
    caches: tuple[Path, ...] = ()
    """Restored caches (tar archives of workspace paths), unpacked after the artifacts."""


@dataclass(frozen=True)
class ExecutionResult:
    """How an attempt ended. ``artifacts`` is a tar archive to upload, if any;
    ``caches`` the archives of the caches to save, by index in ``Assignment.caches``."""

    status: JobStatus
    exit_code: int | None = None
    failure_reason: FailureReason | None = None
    message: str = ""
    artifacts: Path | None = None
    artifacts_cut: bool = False
    """The artifacts reached their size limit: files past it were left out."""
    caches: Mapping[int, Path] = field(default_factory=dict)


class ExecutionListener(Protocol):
    """Receives an attempt's progress, in order, as it happens."""

    async def started(self, container: str, image_digest: str) -> None: ...

    async def output(self, stream: str, data: bytes) -> None:
        """``stream`` is "stdout", "stderr" or "system" (lines xxci writes itself)."""

    async def step_finished(self, index: int, exit_code: int) -> None: ...

    async def service_output(self, service: str, data: bytes) -> None:
        """Output of the job's service ``service`` (kept apart from the job's)."""


class Executor(Protocol):
    """Runs one attempt to its end."""

    async def run(
        self,
        assignment: Assignment,
        workspace: Workspace,
        listener: ExecutionListener,
        cancel: asyncio.Event,
        grace_seconds: float = 10.0,
        kill: asyncio.Event | None = None,
    ) -> ExecutionResult:
        """Run the script; when ``cancel`` is set, stop the job (SIGTERM, then SIGKILL
        after ``grace_seconds``) and return a CANCELED result. When ``kill`` is set
        too (before, with or after ``cancel``), no grace is left: SIGKILL at once."""
        ...
