"""The endings the scheduler decides for a job itself (as ``JobFinished`` events), and
the back-stops that end a running attempt its worker stopped reporting on. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta

from xxci.common.events import Event, JobFinished
from xxci.common.spec.model import AFTER_SCRIPT_TIMEOUT_SECONDS
from xxci.common.status import FailureReason, JobStatus
from xxci.orchestrator.domain.results import failure_allowed
from xxci.orchestrator.domain.settings import Settings
from xxci.orchestrator.domain.state import JobState, RunState

__all__ = ["backstop", "fail", "finish"]


def backstop(
    state: RunState,
    job: JobState,
    now: datetime,
    settings: Settings,
    canceled_at: datetime | None,
) -> Event | None:
    spec = state.specs.get(job.name)
    # A job stopped by a cancel or its timeout still runs its after_script, for up to
    # its own time bound, before its worker reports.
    after = AFTER_SCRIPT_TIMEOUT_SECONDS if spec is not None and spec.after_script else 0
    if canceled_at is not None:
        asked = max(canceled_at, job.assigned_at or canceled_at)
        waited = settings.cancel_grace + settings.cancel_backstop + after
        if now >= asked + timedelta(seconds=waited):
            message = "canceled; the worker did not confirm in time"
            return finish(job, JobStatus.CANCELED, FailureReason.CANCELED, message)
    began = job.started_at or job.assigned_at
    if began is None or spec is None:
        return None
    if now >= began + timedelta(seconds=spec.timeout_seconds + settings.timeout_grace + after):
        message = f"no result {spec.timeout_seconds}s after it started (timeout)"
        return fail(state, job, FailureReason.TIMEOUT, message)
    return None


def finish(
    job: JobState, status: JobStatus, reason: FailureReason | None, message: str
) -> JobFinished:
    return JobFinished(
        job=job.name,
        attempt=job.attempt,
        status=status.value,
        failure_reason=reason.value if reason else "",
        message=message,
    )


def fail(state: RunState, job: JobState, reason: FailureReason, message: str) -> JobFinished:
    spec = state.specs.get(job.name)
    return JobFinished(
        job=job.name,
        attempt=job.attempt,
        status=JobStatus.FAILED.value,
        failure_reason=reason.value,
        allowed=spec is not None and failure_allowed(spec, reason, None),
        message=message,
    )
