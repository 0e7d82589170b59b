"""The pure fold that derives a run's state (:mod:`xxci.orchestrator.domain.state`)
from its events.

``apply(state, record)`` is the only place a run, stage or job status changes:
nothing else stores a status. ``replay(records)`` folds a whole ``run:<id>`` stream;
the same fold answers "what did this run look like at event N".

The fold is total over well-typed events: an event that does not apply to the current
state (a stale attempt, a job that already finished, a stage out of order, anything
after ``RunFinished`` but a ``RunReopened`` for a manual job left unplayed) is
ignored, never an error. Only ``version`` and ``last_seq``
always advance, since they are positions in the stream. The one thing it refuses is a
stream that does not start with ``RunCreated``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from xxci.common.events import (
    CancelRequested,
    Event,
    JobAssigned,
    JobAttemptLost,
    JobAwaitingPlay,
    JobDelayed,
    JobFinished,
    JobPlayed,
    JobQueued,
    JobStarted,
    RecordedEvent,
    RunCreated,
    RunFinished,
    RunReopened,
    StageFinished,
    StageStarted,
    StepFinished,
)
from xxci.common.spec.model import Pipeline
from xxci.common.status import FailureReason, JobStatus, RunStatus, StageStatus
from xxci.orchestrator.domain.state import AttemptState, JobState, RunState, StageState
from xxci.orchestrator.domain.worker_time import event_time

__all__ = ["apply", "replay"]


def apply(state: RunState | None, rec: RecordedEvent) -> RunState:
    """Return the state after ``rec``; ``state`` is None before the stream's first event.

    Raises ValueError only when the stream does not start with a valid ``RunCreated``.
    """
    event = rec.event
    if state is None:
        if not isinstance(event, RunCreated):
            raise ValueError(f"a run stream must start with RunCreated, not {event.type}")
        return _created(event, rec)
    handler = _HANDLERS.get(type(event))
    new = state
    if handler is not None and (not state.finished or isinstance(event, RunReopened)):
        new = handler(state, event, rec.at, rec.seq)
    return dataclasses.replace(new, version=rec.version, last_seq=rec.seq)


def replay(records: Iterable[RecordedEvent]) -> RunState:
    """Fold a whole run stream (in version order). Raises ValueError if it is empty."""
    state: RunState | None = None
    for rec in records:
        state = apply(state, rec)
    if state is None:
        raise ValueError("cannot replay an empty run stream")
    return state


def _created(ev: RunCreated, rec: RecordedEvent) -> RunState:
    try:
        pipeline = Pipeline.from_dict(ev.pipeline)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"RunCreated of run {ev.run_id!r} carries an invalid pipeline") from exc
    stages = {
        name: StageState(name=name, jobs=tuple(j.name for j in pipeline.jobs_in_stage(name)))
        for name in pipeline.stages
    }
    return RunState(
        run_id=ev.run_id,
        number=ev.number,
        pipeline=pipeline,
        repo=ev.repo,
        branch=ev.branch,
        commit=ev.commit,
        source_blob=ev.source_blob,
        local=ev.local,
        created_at=rec.at,
        version=rec.version,
        last_seq=rec.seq,
        stages=stages,
        jobs={j.name: JobState(name=j.name, stage=j.stage) for j in pipeline.jobs},
        specs={j.name: j for j in pipeline.jobs},
    )


def _with_job(state: RunState, job: JobState) -> RunState:
    return dataclasses.replace(state, jobs={**state.jobs, job.name: job})


def _with_stage(state: RunState, stage: StageState) -> RunState:
    return dataclasses.replace(state, stages={**state.stages, stage.name: stage})


def _with_attempt(job: JobState, **changes: Any) -> tuple[AttemptState, ...]:
    """The attempt history with the current attempt updated (if it is still open)."""
    if not job.attempts or job.attempts[-1].status.finished:
        return job.attempts
    return (*job.attempts[:-1], dataclasses.replace(job.attempts[-1], **changes))


def _current_job(state: RunState, name: str, attempt: int, *statuses: JobStatus) -> JobState | None:
    job = state.jobs.get(name)
    if job is None or job.attempt != attempt or job.status not in statuses:
        return None
    return job


def _on_stage_started(state: RunState, ev: StageStarted, at: datetime, seq: int) -> RunState:
    stage = state.stages.get(ev.stage)
    if stage is None or stage.status is not StageStatus.PENDING:
        return state
    for other in state.stages.values():  # every earlier stage must be over
        if other.name == ev.stage or state.pipeline.kind == "gitlab":
            break  # (in GitLab's DAG a job may start before earlier stages end)
        if not other.status.finished:
            return state
    state = _with_stage(
        state, dataclasses.replace(stage, status=StageStatus.RUNNING, started_at=at)
    )
    if state.status is RunStatus.PENDING:
        state = dataclasses.replace(state, status=RunStatus.RUNNING, started_at=at)
    return state


def _on_stage_finished(state: RunState, ev: StageFinished, at: datetime, seq: int) -> RunState:
    stage = state.stages.get(ev.stage)
    status = _parse(StageStatus, ev.status)
    if stage is None or stage.status.finished or status is None or not status.finished:
        return state
    return _with_stage(state, dataclasses.replace(stage, status=status, finished_at=at))


def _on_run_finished(state: RunState, ev: RunFinished, at: datetime, seq: int) -> RunState:
    status = _parse(RunStatus, ev.status)
    if status is None or not status.finished:
        return state
    return dataclasses.replace(state, status=status, finished_at=at)


def _on_run_reopened(state: RunState, ev: RunReopened, at: datetime, seq: int) -> RunState:
    job = state.jobs.get(ev.job)
    if not state.finished or job is None or job.status is not JobStatus.MANUAL:
        return state
    return dataclasses.replace(state, status=RunStatus.RUNNING, finished_at=None)


def _on_job_queued(state: RunState, ev: JobQueued, at: datetime, seq: int) -> RunState:
    waiting = (JobStatus.PENDING, JobStatus.FAILED, JobStatus.DELAYED)
    job = _current_job(state, ev.job, ev.attempt - 1, *waiting)
    stage = state.stages.get(job.stage) if job is not None else None
    if job is not None and stage is not None and job.played and stage.status.finished:
        # A manual job played after its stage was done with it opens the stage again.
        stage = dataclasses.replace(stage, status=StageStatus.RUNNING, finished_at=None)
        state = _with_stage(state, stage)
    if job is None or stage is None or stage.status is not StageStatus.RUNNING:
        return state
    attempt = AttemptState(number=ev.attempt, queued_at=at)
    return _with_job(
        state,
        JobState(
            name=job.name,
            stage=job.stage,
            status=JobStatus.QUEUED,
            attempt=ev.attempt,
            queued_seq=seq,
            queued_at=at,
            attempts=(*job.attempts, attempt),
            lost_attempts=job.lost_attempts,
            cancel_requested_at=job.cancel_requested_at,
            played=job.played,
        ),
    )


def _on_awaiting_play(state: RunState, ev: JobAwaitingPlay, at: datetime, seq: int) -> RunState:
    job = state.jobs.get(ev.job)
    if job is None or job.status is not JobStatus.PENDING or job.played:
        return state
    return _with_job(state, dataclasses.replace(job, status=JobStatus.MANUAL))


def _on_played(state: RunState, ev: JobPlayed, at: datetime, seq: int) -> RunState:
    job = state.jobs.get(ev.job)
    if job is None or job.status is not JobStatus.MANUAL:
        return state
    return _with_job(state, dataclasses.replace(job, status=JobStatus.PENDING, played=True))


def _on_delayed(state: RunState, ev: JobDelayed, at: datetime, seq: int) -> RunState:
    job = state.jobs.get(ev.job)
    if job is None or job.status is not JobStatus.PENDING:
        return state
    due = at + timedelta(seconds=max(ev.start_in_seconds, 0))
    return _with_job(state, dataclasses.replace(job, status=JobStatus.DELAYED, due_at=due))


def _on_job_assigned(state: RunState, ev: JobAssigned, at: datetime, seq: int) -> RunState:
    job = _current_job(state, ev.job, ev.attempt, JobStatus.QUEUED)
    if job is None:
        return state
    worker: dict[str, Any] = {"worker_id": ev.worker_id, "worker_name": ev.worker_name}
    return _with_job(
        state,
        dataclasses.replace(
            job,
            status=JobStatus.RUNNING,
            lease_seconds=ev.lease_seconds,
            assigned_at=at,
            attempts=_with_attempt(job, status=JobStatus.RUNNING, assigned_at=at, **worker),
            **worker,
        ),
    )


def _on_job_started(state: RunState, ev: JobStarted, at: datetime, seq: int) -> RunState:
    job = _current_job(state, ev.job, ev.attempt, JobStatus.RUNNING)
    if job is None or job.started_at is not None:
        return state
    started = event_time(ev.worker_at, ev.clock_offset, at, job.assigned_at)
    return _with_job(
        state,
        dataclasses.replace(
            job,
            container=ev.container,
            image_digest=ev.image_digest,
            started_at=started,
            attempts=_with_attempt(job, started_at=started),
        ),
    )


def _on_step_finished(state: RunState, ev: StepFinished, at: datetime, seq: int) -> RunState:
    job = _current_job(state, ev.job, ev.attempt, JobStatus.RUNNING)
    if job is None or ev.index < 0:
        return state
    return _with_job(state, dataclasses.replace(job, steps={**job.steps, ev.index: ev.exit_code}))


def _on_job_finished(state: RunState, ev: JobFinished, at: datetime, seq: int) -> RunState:
    job = state.jobs.get(ev.job)
    status = _parse(JobStatus, ev.status)
    if job is None or job.finished or job.attempt != ev.attempt:
        return state
    if status is None or not status.finished:
        return state
    reason = _parse(FailureReason, ev.failure_reason) if status is not JobStatus.SUCCESS else None
    if job.status is JobStatus.PENDING and job.attempt > 0 and not _closes_between(status, reason):
        return state  # a late report of a lost attempt: no worker holds the job now
    outcome: dict[str, Any] = {
        "status": status,
        "exit_code": ev.exit_code,
        "failure_reason": reason,
        "message": ev.message,
        "finished_at": event_time(
            ev.worker_at, ev.clock_offset, at, job.started_at or job.assigned_at
        ),
    }
    return _with_job(
        state,
        dataclasses.replace(
            job,
            allowed_failure=ev.allowed and status is JobStatus.FAILED,
            artifacts_blob=ev.artifacts_blob,
            coverage=ev.coverage,
            output_cut=ev.output_cut,
            artifacts_cut=ev.artifacts_cut,
            attempts=_with_attempt(job, **outcome),
            **outcome,
        ),
    )


def _closes_between(status: JobStatus, reason: FailureReason | None) -> bool:
    """Whether a ``JobFinished`` may close a job between attempts (its last one lost):
    only the scheduler's verdicts can, never a worker's outcome."""
    if status in (JobStatus.CANCELED, JobStatus.SKIPPED):
        return True
    return reason in (FailureReason.WORKER_LOST, FailureReason.DEPENDENCY_FAILED)


def _on_attempt_lost(state: RunState, ev: JobAttemptLost, at: datetime, seq: int) -> RunState:
    job = _current_job(state, ev.job, ev.attempt, JobStatus.RUNNING)
    if job is None:
        return state
    lost = _with_attempt(
        job,
        status=JobStatus.FAILED,
        failure_reason=FailureReason.WORKER_LOST,
        lost=True,
        message=ev.reason,
        finished_at=at,
    )
    return _with_job(
        state,
        dataclasses.replace(
            job,
            status=JobStatus.PENDING,
            worker_id="",
            worker_name="",
            message=ev.reason,
            lost_attempts=job.lost_attempts + 1,
            attempts=lost,
        ),
    )


def _on_cancel(state: RunState, ev: CancelRequested, at: datetime, seq: int) -> RunState:
    if not ev.job:
        if state.cancel_requested:
            return state
        return dataclasses.replace(
            state, cancel_requested=True, cancel_requested_at=at, cancel_reason=ev.reason
        )
    job = state.jobs.get(ev.job)
    # A FAILED job may still be awaiting a retry, which the request must stop.
    if job is None or job.cancel_requested_at is not None:
        return state
    if job.finished and job.status is not JobStatus.FAILED:
        return state
    return _with_job(state, dataclasses.replace(job, cancel_requested_at=at))


_E = TypeVar("_E")


def _parse(enum_type: Callable[[str], _E], value: str) -> _E | None:
    try:
        return enum_type(value)
    except ValueError:
        return None


_Handler = Callable[[RunState, Any, datetime, int], RunState]

_HANDLERS: dict[type[Event], _Handler] = {
    StageStarted: _on_stage_started,
    StageFinished: _on_stage_finished,
    RunFinished: _on_run_finished,
    RunReopened: _on_run_reopened,
    JobQueued: _on_job_queued,
    JobAssigned: _on_job_assigned,
    JobStarted: _on_job_started,
    StepFinished: _on_step_finished,
    JobFinished: _on_job_finished,
    JobAttemptLost: _on_attempt_lost,
    CancelRequested: _on_cancel,
    JobAwaitingPlay: _on_awaiting_play,
    JobPlayed: _on_played,
    JobDelayed: _on_delayed,
}
