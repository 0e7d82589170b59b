"""Statuses of jobs, stages and runs, and the reasons a job fails."""

from __future__ import annotations

import enum


class JobStatus(enum.StrEnum):
    PENDING = "PENDING"
    MANUAL = "MANUAL"
    """A manual job that could run, waiting to be played."""
    DELAYED = "DELAYED"
    """A delayed job waiting for its start time."""
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    SKIPPED = "SKIPPED"

    @property
    def finished(self) -> bool:
        return self in _JOB_DONE


_JOB_DONE = frozenset({JobStatus.SUCCESS, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.SKIPPED})


class StageStatus(enum.StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    SKIPPED = "SKIPPED"

    @property
    def finished(self) -> bool:
        return self not in (StageStatus.PENDING, StageStatus.RUNNING)


class RunStatus(enum.StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CANCELED = "CANCELED"

    @property
    def finished(self) -> bool:
        return self in (RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.CANCELED)


class FailureReason(enum.StrEnum):
    SCRIPT_FAILURE = "script_failure"
    TIMEOUT = "timeout"
    IMAGE_PULL_FAILURE = "image_pull_failure"
    DEPENDENCY_FAILED = "dependency_failed"
    WORKER_LOST = "worker_lost"
    CANCELED = "canceled"
    SYSTEM_FAILURE = "system_failure"
    SERVICE_FAILURE = "service_failure"
    """A service the job needs exited before the job started."""
