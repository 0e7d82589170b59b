"""What the orchestrator and a worker say to each other on the worker stream. Pure.

Plain values on both sides of :mod:`xxci.orchestrator.rpc.worker_wire`, which alone
turns them into protobuf and back: the hub queues :data:`Command`\\ s on a worker's
session, and the worker service hands each :data:`WorkerMessage` it reads to a
handler. ``kind`` names a worker message as the worker stream's audit trail records
it (``MessageRejected.message``); those names are stored, never rename one.

Times a worker sends (``sent_at``, ``at``) are its own wall clock's, None when it sent
none (an older worker): see :mod:`xxci.orchestrator.domain.worker_time`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from xxci.common.attempts import AttemptKey, LogStream
from xxci.common.job_extras import GivenSecret
from xxci.common.spec.model import ArtifactWhen
from xxci.common.spec.services_cache import Cache, Service
from xxci.common.status import FailureReason, JobStatus

__all__ = [
    "ATTEMPT_MESSAGES",
    "Accepted",
    "Ack",
    "Assign",
    "AttemptMessage",
    "Cancel",
    "Command",
    "Draining",
    "Heartbeat",
    "Hello",
    "JobReport",
    "Output",
    "Rejected",
    "Started",
    "StepEnded",
    "Welcome",
    "WorkerMessage",
]


# --- to a worker --------------------------------------------------------------------


@dataclass(frozen=True)
class Welcome:
    """The answer to Hello: the worker's id and how often it must be heard from."""

    worker_id: str
    heartbeat_interval: float
    lease_ttl: float


@dataclass(frozen=True)
class Assign:
    """Run one attempt: everything the worker needs, resolved, including the blobs to
    fetch (the source tree, then the artifacts of the jobs it receives, in order)."""

    key: AttemptKey
    stage: str
    image: str
    script: tuple[str, ...]
    variables: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float = 0.0
    source_blob: str = ""
    artifact_blobs: tuple[str, ...] = ()
    artifact_paths: tuple[str, ...] = ()
    artifact_when: ArtifactWhen = ArtifactWhen.ON_SUCCESS
    after_script: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    image_entrypoint: bool = False
    prefer_bash: bool = False
    artifact_exclude: tuple[str, ...] = ()
    artifact_untracked: bool = False
    output_limit: int = 0
    """Bytes of output kept (0: the worker's own limit)."""
    artifact_limit: int = 0
    """Bytes of files the artifacts may hold (0: the worker's own limit)."""
    services: tuple[Service, ...] = ()
    caches: tuple[Cache, ...] = ()
    cache_scope: str = ""
    secrets: tuple[GivenSecret, ...] = ()
    """The secrets the job asks for; :func:`~xxci.orchestrator.domain.assignment.assignment`
    names them, the runtime fills in their values from the secret store."""
    masked_values: tuple[str, ...] = ()
    """Values of ``masked: true`` variables, masked in the job's log by the worker."""


@dataclass(frozen=True)
class Cancel:
    """Stop an attempt: SIGTERM, then SIGKILL after ``grace_seconds``. A ``revoke``
    says the attempt is no longer the worker's (lost, maybe running elsewhere now):
    it is killed at once, with no grace."""

    key: AttemptKey
    grace_seconds: float
    reason: str
    revoke: bool = False


@dataclass(frozen=True)
class Ack:
    """Every message of attempt ``key`` numbered up to ``through`` was handled."""

    key: AttemptKey
    through: int


Command = Welcome | Assign | Cancel | Ack


# --- from a worker ------------------------------------------------------------------


@dataclass(frozen=True)
class Hello:
    """A worker's first message on a stream. ``worker_id`` is the id it was given
    before (empty the first time); ``running`` the attempts it still runs."""

    kind: ClassVar[str] = "hello"
    name: str
    capacity: int
    labels: tuple[str, ...] = ()
    version: str = ""
    running: tuple[AttemptKey, ...] = ()
    worker_id: str = ""
    sent_at: datetime | None = None


@dataclass(frozen=True)
class Heartbeat:
    kind: ClassVar[str] = "heartbeat"
    running: tuple[AttemptKey, ...] = ()
    sent_at: datetime | None = None


@dataclass(frozen=True)
class Draining:
    """The worker takes no more work; it finishes what it runs."""

    kind: ClassVar[str] = "draining"


@dataclass(frozen=True)
class Rejected:
    """The worker will not run an assigned attempt."""

    kind: ClassVar[str] = "reject"
    key: AttemptKey
    reason: str = ""


@dataclass(frozen=True)
class Accepted:
    kind: ClassVar[str] = "accept"
    key: AttemptKey


@dataclass(frozen=True)
class Started:
    """The attempt's container started (``at``, by the worker's clock)."""

    kind: ClassVar[str] = "job_started"
    key: AttemptKey
    container: str = ""
    image_digest: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class Output:
    """Piece ``seq`` (from 1 per attempt) of the attempt's output; with ``service``,
    of that service's output instead."""

    kind: ClassVar[str] = "log_chunk"
    key: AttemptKey
    seq: int
    stream: LogStream
    data: bytes
    service: str = ""


@dataclass(frozen=True)
class StepEnded:
    """Script command ``index`` (0-based) ended with ``exit_code``."""

    kind: ClassVar[str] = "step_finished"
    key: AttemptKey
    index: int
    exit_code: int
    at: datetime | None = None


@dataclass(frozen=True)
class JobReport:
    """How the attempt ended, in the worker's words: ``status`` is SUCCESS, FAILED or
    CANCELED; ``failure_reason`` is what the worker said (None when it said none);
    ``at`` when it ended, by the worker's clock.
    :func:`~xxci.orchestrator.domain.results.finished_event` makes the event of it."""

    kind: ClassVar[str] = "job_finished"
    key: AttemptKey
    status: JobStatus
    exit_code: int | None = None
    failure_reason: FailureReason | None = None
    message: str = ""
    artifacts_blob: str = ""
    at: datetime | None = None
    output_cut: bool = False
    artifacts_cut: bool = False

    def __post_init__(self) -> None:
        if self.status not in _REPORTED:
            raise ValueError(f"a worker reports how a job ended, not {self.status}")


_REPORTED = frozenset({JobStatus.SUCCESS, JobStatus.FAILED, JobStatus.CANCELED})


AttemptMessage = Accepted | Started | Output | StepEnded | JobReport
"""The messages a worker numbers and keeps until they are acknowledged."""

ATTEMPT_MESSAGES = (Accepted, Started, Output, StepEnded, JobReport)

WorkerMessage = Hello | Heartbeat | Draining | Rejected | AttemptMessage
