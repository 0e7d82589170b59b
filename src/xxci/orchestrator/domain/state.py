"""The state of one run as the fold derives it: the run, its stages, its jobs and each
job's attempts (the fold itself is :mod:`xxci.orchestrator.domain.fold`).

The states are frozen dataclasses; their mappings are fresh copies per change, so
treat them as read-only. Nothing but the fold makes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from xxci.common.events import (
    run_stream,
)
from xxci.common.spec.model import Job, Pipeline
from xxci.common.status import FailureReason, JobStatus, RunStatus, StageStatus

__all__ = ["AttemptState", "JobState", "RunState", "StageState"]


@dataclass(frozen=True)
class AttemptState:
    """One attempt of a job as its history keeps it.

    A lost attempt (its worker vanished) ends ``FAILED`` with reason ``worker_lost``
    and ``lost=True``; it does not count against the job's ``retry`` budget.
    """

    number: int
    status: JobStatus = JobStatus.QUEUED
    worker_id: str = ""
    worker_name: str = ""
    exit_code: int | None = None
    failure_reason: FailureReason | None = None
    lost: bool = False
    message: str = ""
    queued_at: datetime | None = None
    assigned_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class JobState:
    """A job of the run; the per-attempt fields describe the current attempt.

    ``status`` is RUNNING from the moment an attempt is assigned to a worker (the
    worker owns it then, image pull included); ``started_at`` is when its container
    started. ``attempt`` is 0 until the job is first queued. After a lost attempt the
    job is back to PENDING (same ``attempt``) until the scheduler re-queues it.
    ``attempts`` holds every attempt, the current one last.
    """

    name: str
    stage: str
    status: JobStatus = JobStatus.PENDING
    attempt: int = 0
    worker_id: str = ""
    worker_name: str = ""
    lease_seconds: float = 0.0
    container: str = ""
    image_digest: str = ""
    exit_code: int | None = None
    failure_reason: FailureReason | None = None
    allowed_failure: bool = False
    message: str = ""
    artifacts_blob: str = ""
    output_cut: bool = False
    """The current attempt's output reached the output limit: its log was cut."""
    artifacts_cut: bool = False
    """Its artifacts reached the artifact limit: files past it were left out."""
    queued_seq: int = 0
    queued_at: datetime | None = None
    assigned_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    steps: Mapping[int, int] = field(default_factory=dict)
    """Exit code per script index (0-based) of the current attempt."""
    attempts: tuple[AttemptState, ...] = ()
    lost_attempts: int = 0
    cancel_requested_at: datetime | None = None
    """When this one job was asked to cancel (a run cancel is on ``RunState``)."""
    played: bool = False
    """A manual job someone played: it is queued as soon as it may."""
    due_at: datetime | None = None
    """When a DELAYED job is to be queued."""
    coverage: str = ""
    """What the job's ``coverage`` regex found in the log of its last attempt."""

    @property
    def finished(self) -> bool:
        return self.status.finished

    @property
    def failed_attempts(self) -> int:
        """Attempts that failed on their own (lost attempts excluded)."""
        return sum(1 for a in self.attempts if a.status is JobStatus.FAILED and not a.lost)


@dataclass(frozen=True)
class StageState:
    name: str
    jobs: tuple[str, ...] = ()
    """Names of the stage's jobs, in pipeline order."""
    status: StageStatus = StageStatus.PENDING
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class RunState:
    """One run as its events describe it: spec, statuses, and stream position."""

    run_id: str
    number: int
    pipeline: Pipeline
    repo: str = ""
    branch: str = ""
    commit: str = ""
    source_blob: str = ""
    local: bool = False
    status: RunStatus = RunStatus.PENDING
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    version: int = 0
    """Version of the last record applied (the expected version for the next append)."""
    last_seq: int = 0
    cancel_requested: bool = False
    cancel_requested_at: datetime | None = None
    cancel_reason: str = ""
    stages: Mapping[str, StageState] = field(default_factory=dict)
    """Every stage, in run order."""
    jobs: Mapping[str, JobState] = field(default_factory=dict)
    """Every job, in pipeline order."""
    specs: Mapping[str, Job] = field(default_factory=dict, repr=False, compare=False)
    """The resolved spec of each job, by name (an index into ``pipeline``)."""

    @property
    def stream(self) -> str:
        return run_stream(self.run_id)

    @property
    def finished(self) -> bool:
        return self.status.finished
