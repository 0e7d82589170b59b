"""Questions the orchestrator and the scheduler ask of a ``RunState``; all pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from xxci.common.events import JobFinished
from xxci.common.spec.model import Job
from xxci.common.status import JobStatus, StageStatus
from xxci.orchestrator.domain.results import RETRYABLE_REASONS, passed
from xxci.orchestrator.domain.state import JobState, RunState

__all__ = [
    "NeedsCheck",
    "assigned_to",
    "cancel_requested_at",
    "check_needs",
    "is_current",
    "is_settled",
    "queued_jobs",
    "ready_jobs",
    "repeats_finish",
    "repeats_start",
    "repeats_step",
    "running_jobs",
    "will_retry",
]


def is_current(state: RunState, job: str, attempt: int, worker_id: str | None = None) -> bool:
    """Whether a worker message about ``(job, attempt)`` may still be applied: the run
    is not over and that attempt is the job's live one (queued or running), held by
    ``worker_id`` when one is given. Anything else is stale and must be rejected."""
    current = state.jobs.get(job)
    if state.finished or current is None or attempt < 1 or current.attempt != attempt:
        return False
    if current.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
        return False
    return worker_id is None or current.worker_id == worker_id


def assigned_to(state: RunState, job: str, attempt: int, worker_id: str) -> str:
    """Why ``worker_id`` may not speak for attempt ``attempt`` of ``job`` ("" if it may:
    that attempt was assigned to it, whether it is still current or not).

    Output, an Accept or a late report of an attempt belongs to the worker it was
    given to and to no other: a worker that names an attempt it never got is refused.
    """
    current = state.jobs.get(job)
    if current is None:
        return "no such job"
    for past in current.attempts:
        if past.number == attempt and past.worker_id:
            mine = past.worker_id == worker_id
            return "" if mine else "the attempt is not assigned to this worker"
    return f"attempt {attempt} of the job was never assigned"


def _held(state: RunState, job: str, attempt: int, worker_id: str) -> JobState | None:
    """The job, if ``attempt`` is its latest one and ``worker_id`` holds or held it."""
    current = state.jobs.get(job)
    if current is None or attempt < 1 or current.attempt != attempt:
        return None
    return current if current.worker_id == worker_id else None


# A worker sends again, after a reconnect, every message the orchestrator did not
# acknowledge, some of which it had applied already. These say whether a message is
# such a repeat: its fact is already in the state, for the latest attempt, from the
# same worker. A repeat is ignored (neither applied again nor rejected).


def repeats_start(state: RunState, job: str, attempt: int, worker_id: str) -> bool:
    """Whether a JobStarted of ``(job, attempt)`` from ``worker_id`` was applied already."""
    held = _held(state, job, attempt, worker_id)
    return held is not None and held.started_at is not None


def repeats_step(
    state: RunState, job: str, attempt: int, worker_id: str, index: int, exit_code: int
) -> bool:
    """Whether this StepFinished (``index`` with ``exit_code``) was applied already."""
    held = _held(state, job, attempt, worker_id)
    return held is not None and index in held.steps and held.steps[index] == exit_code


def repeats_finish(state: RunState, event: JobFinished, worker_id: str) -> bool:
    """Whether the job's latest attempt already ended as ``event`` says, by ``worker_id``'s
    report (an end the orchestrator decided itself differs: a timeout, a cancel)."""
    held = _held(state, event.job, event.attempt, worker_id)
    if held is None or not held.finished:
        return False
    reason = held.failure_reason.value if held.failure_reason is not None else ""
    return (held.status.value, held.exit_code, reason, held.message, held.artifacts_blob) == (
        event.status,
        event.exit_code,
        event.failure_reason,
        event.message,
        event.artifacts_blob,
    )


def cancel_requested_at(state: RunState, job: JobState) -> datetime | None:
    """When the job was first asked to cancel (for itself or with the whole run)."""
    times = [t for t in (job.cancel_requested_at, state.cancel_requested_at) if t is not None]
    return min(times) if times else None


def will_retry(state: RunState, job: JobState) -> bool:
    """Whether a FAILED attempt is going to be followed by another (``retry: N``).

    Retried: script, timeout, image pull and system failures (those of ``retry: when``
    when it names some; a script failure with one of ``retry: exit_codes`` when those
    are given), while fewer than N retries were used, the stage still runs and nobody
    asked to cancel. Lost attempts do not count against N.
    """
    if state.finished or job.status is not JobStatus.FAILED or job.attempt < 1:
        return False
    if job.failure_reason not in RETRYABLE_REASONS or cancel_requested_at(state, job) is not None:
        return False
    stage = state.stages.get(job.stage)
    spec = state.specs.get(job.name)
    if stage is None or stage.status is not StageStatus.RUNNING or spec is None:
        return False
    return job.failed_attempts <= spec.retry and _retried_for(spec, job)


def _retried_for(spec: Job, job: JobState) -> bool:
    """Whether ``retry: when`` / ``retry: exit_codes`` take this failure (either does)."""
    if not spec.retry_on and not spec.retry_exit_codes:
        return True
    reason = job.failure_reason.value if job.failure_reason else ""
    by_reason = reason in spec.retry_on
    by_code = reason == "script_failure" and job.exit_code in spec.retry_exit_codes
    return by_reason or by_code


def is_settled(state: RunState, job: JobState) -> bool:
    """Finished for good: finished, and no retry is coming."""
    return job.finished and not will_retry(state, job)


@dataclass(frozen=True)
class NeedsCheck:
    """Where a job stands with its ``needs``: ``ready`` to queue, ``broken`` (it can
    never run; the text names the need), or waiting on the needs in ``waiting_on``."""

    ready: bool
    broken: str = ""
    waiting_on: tuple[str, ...] = ()


def check_needs(state: RunState, name: str) -> NeedsCheck:
    """A need passes when it settled with SUCCESS or an allowed failure."""
    job, spec = state.jobs.get(name), state.specs.get(name)
    if job is None or spec is None:
        return NeedsCheck(ready=False, broken=f"{name!r} is not a job of this pipeline")
    order = {stage: i for i, stage in enumerate(state.stages)}
    waiting: list[str] = []
    for need in spec.needs:
        dep = state.jobs.get(need)
        if dep is None:
            return NeedsCheck(ready=False, broken=f"need {need!r} is not a job of this pipeline")
        if order.get(dep.stage, len(order)) > order.get(job.stage, -1):
            return NeedsCheck(ready=False, broken=f"need {need!r} is in a later stage")
        if not is_settled(state, dep):
            waiting.append(need)
        elif not passed(dep):
            return NeedsCheck(ready=False, broken=f"need {need!r} {_describe(dep)}")
    return NeedsCheck(ready=not waiting, waiting_on=tuple(waiting))


def _describe(job: JobState) -> str:
    if job.status is JobStatus.CANCELED:
        return "was canceled"
    if job.status is JobStatus.SKIPPED:
        return "was skipped"
    return f"failed ({job.failure_reason})" if job.failure_reason else "failed"


def ready_jobs(state: RunState) -> list[JobState]:
    """PENDING jobs of a running stage whose needs all passed: the next to queue."""
    return [
        job
        for job in state.jobs.values()
        if job.status is JobStatus.PENDING
        and (stage := state.stages.get(job.stage)) is not None
        and stage.status is StageStatus.RUNNING
        and cancel_requested_at(state, job) is None
        and check_needs(state, job.name).ready
    ]


def queued_jobs(state: RunState) -> list[JobState]:
    """Jobs waiting for a worker, oldest first."""
    queued = [j for j in state.jobs.values() if j.status is JobStatus.QUEUED]
    return sorted(queued, key=lambda j: j.queued_seq)


def running_jobs(state: RunState) -> list[JobState]:
    """Jobs whose current attempt a worker holds (assigned or started)."""
    return [j for j in state.jobs.values() if j.status is JobStatus.RUNNING]
