"""The scheduler's rules for a ``.gitlab-ci.yml`` run (and any run with ``when``). Pure.

GitLab decides job by job rather than stage by stage. A job waits for its
*predecessors*: the jobs it ``needs`` when it declares ``needs`` (GitLab's DAG: its
stage does not matter), else every job of the earlier stages and the jobs it needs
in its own. Once they are all settled, its ``when`` decides:

- ``on_success``: it runs if none of them failed (an allowed failure is no failure, a
  skipped job is neutral); otherwise it ends SKIPPED.
- ``on_failure``: it runs only if one of them failed; otherwise SKIPPED.
- ``always``: it runs.
- ``manual``: if none failed it waits as MANUAL (``JobAwaitingPlay``) until someone
  plays it (``JobPlayed``), then runs. An unplayed manual job whose ``allow_failure``
  holds (``when: manual``'s default) counts as settled for the later stages; one
  that does not (a manual job from ``rules``) holds them back: the run waits.
  A job that needs a manual job waits for it to be played and done.
- ``delayed``: if none failed it waits as DELAYED (``JobDelayed``) for
  ``start_in``, then runs.

A job needed by another that failed or was skipped or canceled makes that one
SKIPPED. A stage starts when its first job goes (any stage, in any order), and
finishes when its jobs are all settled, with ``results.stage_result``; the run
finishes when every stage has, with ``results.run_result``. Retries, lost workers,
back-stops and cancels work as in :mod:`scheduler`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from xxci.common.events import (
    Event,
    JobAwaitingPlay,
    JobDelayed,
    JobQueued,
    RunFinished,
    StageFinished,
    StageStarted,
)
from xxci.common.spec.model import Pipeline, When
from xxci.common.status import FailureReason, JobStatus, StageStatus
from xxci.orchestrator.domain.lookup import cancel_requested_at, is_settled, will_retry
from xxci.orchestrator.domain.outcomes import backstop, fail, finish
from xxci.orchestrator.domain.results import passed, run_result, stage_result
from xxci.orchestrator.domain.settings import Settings
from xxci.orchestrator.domain.state import JobState, RunState

__all__ = ["applies", "decide_flow", "predecessors"]

_WAITING = (JobStatus.PENDING, JobStatus.QUEUED, JobStatus.MANUAL, JobStatus.DELAYED)


def applies(pipeline: Pipeline) -> bool:
    """Whether a run of ``pipeline`` is scheduled by these rules."""
    return pipeline.kind == "gitlab" or any(j.when is not When.ON_SUCCESS for j in pipeline.jobs)


def decide_flow(state: RunState, now: datetime, settings: Settings) -> list[Event]:
    """The next events of the run at ``now`` (``[]`` when nothing is to be done)."""
    if state.finished:
        return []
    decided: list[Event] = []
    starting: set[str] = set()
    for job in state.jobs.values():
        for event in _decide_job(state, job, now, settings):
            if isinstance(event, JobQueued | JobAwaitingPlay | JobDelayed):
                stage = state.stages[job.stage]
                if stage.status is StageStatus.PENDING:
                    if job.stage not in starting:
                        starting.add(job.stage)
                        decided.append(StageStarted(stage=job.stage))
                    continue  # queued once its stage has started
            decided.append(event)
    return decided or _decide_stages(state)


def predecessors(state: RunState, job: str) -> tuple[list[str], list[str]]:
    """What ``job`` waits for: ``(needs, earlier)``, the jobs it needs and, unless it
    declares ``needs`` (the DAG), every job of the stages before its own."""
    spec = state.specs[job]
    if spec.dag:
        return list(spec.needs), []
    order = list(state.stages)
    position = order.index(spec.stage)
    earlier = [j for s in order[:position] for j in state.stages[s].jobs]
    return list(spec.needs), earlier


def _decide_job(state: RunState, job: JobState, now: datetime, settings: Settings) -> list[Event]:
    canceled_at = cancel_requested_at(state, job)
    if job.status in _WAITING and canceled_at is not None:
        return [finish(job, JobStatus.CANCELED, FailureReason.CANCELED, "canceled")]
    if job.status is JobStatus.RUNNING:
        event = backstop(state, job, now, settings, canceled_at)
        return [event] if event else []
    if job.status is JobStatus.DELAYED:
        due = job.due_at is not None and now >= job.due_at
        return [JobQueued(job=job.name, attempt=job.attempt + 1)] if due else []
    if job.status is JobStatus.PENDING:
        return _decide_pending(state, job, settings)
    if will_retry(state, job):
        return [JobQueued(job=job.name, attempt=job.attempt + 1)]
    return []


def _decide_pending(state: RunState, job: JobState, settings: Settings) -> list[Event]:
    spec = state.specs[job.name]
    needs, earlier = predecessors(state, job.name)
    needed = [state.jobs[n] for n in needs if n in state.jobs]
    before = [state.jobs[n] for n in earlier if n in state.jobs]
    if not all(is_settled(state, j) for j in needed):
        return []
    if not all(_settled_for_stages(state, j) for j in before):
        return []
    if job.played or job.attempt > 0:  # played, or queued again after a lost worker
        return [_queue(state, job, settings)]
    failed = [j for j in (*needed, *before) if _failed(j)]
    if spec.when is When.ALWAYS:
        return [_queue(state, job, settings)]
    if spec.when is When.ON_FAILURE:
        if failed:
            return [_queue(state, job, settings)]
        why = "not run: nothing before it failed (when: on_failure)"
        return [finish(job, JobStatus.SKIPPED, None, why)]
    broken = next((j for j in needed if not passed(j)), None) or next(iter(failed), None)
    if broken is not None:
        label = "need " if broken in needed else ""
        why = f"not run: {label}{broken.name!r} {_how(broken)}"
        return [finish(job, JobStatus.SKIPPED, None, why)]
    if spec.when is When.MANUAL:
        return [JobAwaitingPlay(job=job.name)]
    if spec.when is When.DELAYED:
        return [JobDelayed(job=job.name, start_in_seconds=spec.start_in_seconds)]
    return [_queue(state, job, settings)]


def _queue(state: RunState, job: JobState, settings: Settings) -> Event:
    if job.lost_attempts >= settings.max_lost_attempts:
        message = f"gave up after losing the worker {job.lost_attempts} times"
        return fail(state, job, FailureReason.WORKER_LOST, message)
    return JobQueued(job=job.name, attempt=job.attempt + 1)


def _settled_for_stages(state: RunState, job: JobState) -> bool:
    """Done as far as the later stages care: settled, or a manual job nobody played
    that may be left unplayed (its ``allow_failure`` holds)."""
    if job.status is JobStatus.MANUAL:
        return not state.specs[job.name].blocks_when_manual
    return is_settled(state, job)


def _failed(job: JobState) -> bool:
    return job.status in (JobStatus.FAILED, JobStatus.CANCELED) and not passed(job)


def _how(job: JobState) -> str:
    if job.status is JobStatus.SKIPPED:
        return "was skipped"
    if job.status is JobStatus.CANCELED:
        return "was canceled"
    if job.status is JobStatus.MANUAL:
        return "was not played"
    return "failed"


def _decide_stages(state: RunState) -> list[Event]:
    decided: list[Event] = []
    for stage in state.stages.values():
        if stage.status.finished:
            continue
        jobs = [state.jobs[name] for name in stage.jobs]
        if all(_settled_for_stages(state, j) for j in jobs):
            decided.append(StageFinished(stage=stage.name, status=_stage_status(state, jobs).value))
    if decided:
        return decided
    if all(s.status.finished for s in state.stages.values()):
        return [RunFinished(status=run_result(state).value)]
    return []


def _stage_status(state: RunState, jobs: Iterable[JobState]) -> StageStatus:
    result = stage_result(list(jobs))
    if result is StageStatus.SKIPPED and state.cancel_requested:
        return StageStatus.CANCELED
    return result
