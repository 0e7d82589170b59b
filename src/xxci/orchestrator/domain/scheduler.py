"""The scheduler: what happens next in a run, as events. Pure.

``decide(state, now, settings)`` returns the events that follow from ``state`` at time
``now`` (the back-stops count in :class:`~xxci.orchestrator.domain.settings.Settings`);
the orchestrator appends them, applies them, and calls it again until it returns
``[]``. Each call returns only the immediately-next decisions, and never one that the
state already shows, so calling it twice on the same state gives the same answer and
calling it on a settled state gives ``[]``. Nothing is decided after ``RunFinished``.

A run of a ``.gitlab-ci.yml``, or of any pipeline that uses ``when``, is decided job
by job by :mod:`~xxci.orchestrator.domain.flow` (GitLab's DAG, ``when``, manual and
delayed jobs). The rest of this module decides stage by stage:

Rules (GitLab's where the two overlap):

- Stages run in order. A stage starts when every earlier stage succeeded; it finishes
  when all of its jobs have finished for good, with the worst of their results
  (``results.stage_result``: an allowed failure counts as success, and a
  ``dependency_failed`` job shows the result of its cause).
- In a running stage a PENDING job is queued (``JobQueued``) once all its ``needs``
  passed. If a need failed, was canceled or skipped, it ends FAILED with reason
  ``dependency_failed`` instead, naming the need; that propagates down the chain. A job
  whose needs can never be met (a cycle) ends the same way once nothing else moves.
  Other jobs of a stage with a failure still run: only dependents are affected.
- Retry model: a worker reports each attempt with ``JobFinished``. A FAILED attempt
  that ``lookup.will_retry`` accepts (``retry: N``) is followed by
  ``JobQueued(attempt + 1)``; the fold moves the job back to QUEUED and the failed
  attempt stays in ``JobState.attempts``. ``JobAttemptLost`` moves the job back to
  PENDING; it is queued again as ``attempt + 1`` unless ``settings.max_lost_attempts``
  attempts were lost, then it ends FAILED with ``worker_lost``. Lost attempts and
  ``retry`` are separate budgets.
- Back-stops: a RUNNING attempt (assigned to a worker) still running
  ``timeout + settings.timeout_grace`` after it started (after its assignment if its
  container never started) ends FAILED with ``timeout`` (retried like any timeout). A
  QUEUED job waits for a worker as long as it takes: a queue is not a hang.
- Cancel of the run: every job not yet running ends CANCELED at once, in every stage;
  running attempts are told to stop (``jobs_to_cancel``) and end with their worker's
  report, or CANCELED by the scheduler ``settings.cancel_grace +
  settings.cancel_backstop`` after the request (never while the worker may still be in
  the grace it was given). No retry or re-queue happens after a cancel. The stages that
  were never reached end CANCELED, the run CANCELED (FAILED if a stage had already
  failed).
- Cancel of one job: the same for that job alone. It is not an allowed failure, so its
  stage ends CANCELED (FAILED if something else failed), its dependents FAILED with
  ``dependency_failed``, and the run stops there like after a failure.
- After a stage that did not succeed, the later stages are not started: their jobs end
  SKIPPED (``JobFinished`` per job, for the audit trail), then the stages SKIPPED, then
  ``RunFinished`` with the combined result.
"""

from __future__ import annotations

from datetime import datetime

from xxci.common.events import (
    Event,
    JobQueued,
    RunFinished,
    StageFinished,
    StageStarted,
)
from xxci.common.status import FailureReason, JobStatus, StageStatus
from xxci.orchestrator.domain import flow
from xxci.orchestrator.domain.lookup import (
    cancel_requested_at,
    check_needs,
    is_settled,
    will_retry,
)
from xxci.orchestrator.domain.outcomes import backstop, fail, finish
from xxci.orchestrator.domain.results import run_result, stage_result
from xxci.orchestrator.domain.settings import Settings
from xxci.orchestrator.domain.state import JobState, RunState, StageState

__all__ = ["decide", "jobs_to_cancel"]


def decide(state: RunState, now: datetime, settings: Settings) -> list[Event]:
    """The next events of the run at time ``now`` (``[]`` when nothing is to be done)."""
    if state.finished:
        return []
    if flow.applies(state.pipeline):
        return flow.decide_flow(state, now, settings)
    decided: list[Event] = []
    for job in state.jobs.values():
        event = _decide_job(state, job, now, settings)
        if event is not None:
            decided.append(event)
    return decided or _break_deadlock(state) or _decide_stages(state)


def jobs_to_cancel(state: RunState) -> list[tuple[str, int]]:
    """``(job, attempt)`` of every running attempt that has been asked to cancel: the
    orchestrator sends each one's worker ``CancelJob`` (sending twice is harmless)."""
    return [
        (job.name, job.attempt)
        for job in state.jobs.values()
        if job.status is JobStatus.RUNNING and cancel_requested_at(state, job) is not None
    ]


def _decide_job(state: RunState, job: JobState, now: datetime, settings: Settings) -> Event | None:
    canceled_at = cancel_requested_at(state, job)
    if job.status in (JobStatus.PENDING, JobStatus.QUEUED):
        if canceled_at is not None:
            return finish(job, JobStatus.CANCELED, FailureReason.CANCELED, "canceled")
        if job.status is JobStatus.PENDING:
            return _decide_pending(state, job, settings.max_lost_attempts)
        return None
    if job.status is JobStatus.RUNNING:
        return backstop(state, job, now, settings, canceled_at)
    if will_retry(state, job):
        return JobQueued(job=job.name, attempt=job.attempt + 1)
    return None


def _decide_pending(state: RunState, job: JobState, max_lost_attempts: int) -> Event | None:
    stage = state.stages.get(job.stage)
    if stage is None or stage.status is not StageStatus.RUNNING:
        return None
    needs = check_needs(state, job.name)
    if needs.broken:
        return fail(state, job, FailureReason.DEPENDENCY_FAILED, needs.broken)
    if not needs.ready:
        return None
    if job.lost_attempts >= max_lost_attempts:
        message = f"gave up after losing the worker {job.lost_attempts} times"
        return fail(state, job, FailureReason.WORKER_LOST, message)
    return JobQueued(job=job.name, attempt=job.attempt + 1)


def _break_deadlock(state: RunState) -> list[Event]:
    """Fail the jobs whose needs can never be met (a cycle): called when no job has
    anything else to do, so if none is queued or running either, nothing will move."""
    if any(j.status in (JobStatus.QUEUED, JobStatus.RUNNING) for j in state.jobs.values()):
        return []
    stuck: list[Event] = []
    for job in state.jobs.values():
        stage = state.stages.get(job.stage)
        if job.status is JobStatus.PENDING and stage and stage.status is StageStatus.RUNNING:
            waiting = ", ".join(repr(n) for n in check_needs(state, job.name).waiting_on)
            message = f"needs {waiting} can never finish"
            stuck.append(fail(state, job, FailureReason.DEPENDENCY_FAILED, message))
    return stuck


def _decide_stages(state: RunState) -> list[Event]:
    stages = list(state.stages.values())
    for index, stage in enumerate(stages):
        if stage.status.finished:
            continue
        if stage.status is StageStatus.RUNNING:
            jobs = [state.jobs[name] for name in stage.jobs]
            if all(is_settled(state, job) for job in jobs):
                return [StageFinished(stage=stage.name, status=stage_result(jobs).value)]
            return []
        earlier = stages[:index]
        if not state.cancel_requested and all(s.status is StageStatus.SUCCESS for s in earlier):
            return [StageStarted(stage=stage.name)]
        return _close(state, stages[index:], _blocker(earlier))
    return [RunFinished(status=run_result(state).value)]


def _blocker(earlier: list[StageState]) -> str:
    failed = next((s for s in earlier if s.status is not StageStatus.SUCCESS), None)
    return f"stage {failed.name!r} did not succeed" if failed else "the run was canceled"


def _close(state: RunState, rest: list[StageState], why: str) -> list[Event]:
    """Close stages that will never start: skip their jobs, then the stages."""
    status = StageStatus.CANCELED if state.cancel_requested else StageStatus.SKIPPED
    jobs = [state.jobs[name] for stage in rest for name in stage.jobs]
    open_jobs = [j for j in jobs if not j.finished]
    if any(j.status is not JobStatus.PENDING for j in open_jobs):
        return []  # not reachable through the fold; wait rather than guess
    if open_jobs:
        if state.cancel_requested:
            reason: FailureReason | None = FailureReason.CANCELED
            job_status = JobStatus.CANCELED
        else:
            reason, job_status = None, JobStatus.SKIPPED
        return [finish(j, job_status, reason, f"not run: {why}") for j in open_jobs]
    return [StageFinished(stage=s.name, status=status.value) for s in rest if not s.status.finished]
