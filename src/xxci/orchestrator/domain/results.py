"""How job outcomes combine into stage and run results, and which failures count.

Results combine buildbot style: the worst one wins, in the order

    SKIPPED < SUCCESS < CANCELED < FAILED

where SKIPPED is neutral (a stage of only skipped jobs is SKIPPED, skipped jobs next to
successful ones do not change SUCCESS). FAILED beats CANCELED as in GitLab: a stage in
which one job failed and the others were then canceled failed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from xxci.common.events import JobFinished
from xxci.common.spec.expressions import ExpressionError, compile_pattern
from xxci.common.spec.model import Job
from xxci.common.status import FailureReason, JobStatus, RunStatus, StageStatus
from xxci.orchestrator.domain.messages import JobReport
from xxci.orchestrator.domain.state import JobState, RunState
from xxci.orchestrator.domain.worker_time import stamp_text

__all__ = [
    "RETRYABLE_REASONS",
    "coverage_figure",
    "failure_allowed",
    "finished_event",
    "job_result",
    "passed",
    "run_result",
    "stage_result",
    "worst_status",
]

RETRYABLE_REASONS = frozenset(
    {
        FailureReason.SCRIPT_FAILURE,
        FailureReason.TIMEOUT,
        FailureReason.IMAGE_PULL_FAILURE,
        FailureReason.SYSTEM_FAILURE,
        FailureReason.SERVICE_FAILURE,
    }
)
"""Failures that ``retry: N`` retries (GitLab's ``when: always``). A cancel or a failed
need is never retried; lost workers have their own budget (see the scheduler)."""

_ORDER = (StageStatus.SKIPPED, StageStatus.SUCCESS, StageStatus.CANCELED, StageStatus.FAILED)


def worst_status(results: Iterable[StageStatus]) -> StageStatus:
    """Combine finished results; the worst wins. Nothing to combine gives SUCCESS.

    Raises ValueError on an unfinished status (PENDING, RUNNING).
    """
    worst: StageStatus | None = None
    for result in results:
        if result not in _ORDER:
            raise ValueError(f"cannot combine an unfinished result: {result}")
        if worst is None or _ORDER.index(result) > _ORDER.index(worst):
            worst = result
    return StageStatus.SUCCESS if worst is None else worst


def job_result(job: JobState) -> StageStatus:
    """What a finished job contributes to its stage: a failure it is allowed to have
    counts as SUCCESS. An unfinished job gives RUNNING (PENDING if never queued)."""
    match job.status:
        case JobStatus.SUCCESS:
            return StageStatus.SUCCESS
        case JobStatus.FAILED:
            return StageStatus.SUCCESS if job.allowed_failure else StageStatus.FAILED
        case JobStatus.CANCELED:
            return StageStatus.CANCELED
        case JobStatus.SKIPPED | JobStatus.MANUAL:
            # A manual job nobody played is as neutral as a skipped one.
            return StageStatus.SKIPPED
        case JobStatus.PENDING:
            return StageStatus.PENDING
        case _:
            return StageStatus.RUNNING


def passed(job: JobState) -> bool:
    """True for a job that succeeded or failed as allowed: its dependents may run."""
    return job_result(job) is StageStatus.SUCCESS


def stage_result(jobs: Iterable[JobState]) -> StageStatus:
    """The result of a stage whose jobs have all finished.

    A job that failed with ``dependency_failed`` is a consequence, not a cause: the
    stage shows the result of the jobs that did run (so canceling a job that others
    need gives CANCELED, not FAILED). Only when nothing else explains it (a need that
    can never be met) does it make the stage FAILED.
    """
    causes: list[StageStatus] = []
    consequences = False
    for job in jobs:
        result = job_result(job)
        if result is StageStatus.FAILED and job.failure_reason is FailureReason.DEPENDENCY_FAILED:
            consequences = True
        else:
            causes.append(result)
    worst = worst_status(causes)
    if consequences and worst in (StageStatus.SUCCESS, StageStatus.SKIPPED):
        return StageStatus.FAILED
    return worst


def run_result(state: RunState) -> RunStatus:
    """The result of a run whose stages have all finished: FAILED if a stage failed,
    else CANCELED if a stage was canceled or a run cancel was requested, else SUCCESS."""
    worst = worst_status(s.status for s in state.stages.values() if s.status.finished)
    if worst is StageStatus.FAILED:
        return RunStatus.FAILED
    if worst is StageStatus.SUCCESS and not state.cancel_requested:
        return RunStatus.SUCCESS
    # CANCELED, a cancel that came after the last job, or (unreachable) all skipped.
    return RunStatus.CANCELED


def failure_allowed(job: Job, reason: FailureReason | None, exit_code: int | None) -> bool:
    """Whether the job's ``allow_failure`` covers this failure (see
    ``AllowFailure.permits_failure``: never a cancel; with ``exit_codes`` only a script
    failure with one of them)."""
    return job.allow_failure.permits_failure(reason.value if reason else "", exit_code)


def coverage_figure(pattern: str, log: str) -> str:
    """The coverage a ``/regex/`` finds in a job's log, as GitLab reads it: the last line
    it matches, in that line its last match (that match's last group, if it has
    groups), and in that the first number; "" if no matching line holds one."""
    if not pattern:
        return ""
    try:
        regex = compile_pattern(pattern)
    except ExpressionError:
        return ""
    for line in reversed(log.splitlines()):
        found = regex.findall(line)
        if not found:
            continue
        last = found[-1]
        text = last[-1] if isinstance(last, tuple) else last
        number = re.search(r"\d+(?:\.\d+)?", text)
        if number:
            return number.group(0)
    return ""


def finished_event(
    state: RunState, report: JobReport, clock_offset: float = 0.0, coverage: str = ""
) -> JobFinished:
    """The ``JobFinished`` a worker's report of how an attempt ended amounts to.

    A failure without a reason the worker could name is a ``system_failure``; a cancel
    is always ``canceled``; a success has no reason. Whether the job's
    ``allow_failure`` covers a failure is decided here, from the job's spec. The
    report's time goes in as the worker stamped it, with its clock's ``clock_offset``.
    """
    reason = report.failure_reason
    if report.status is JobStatus.SUCCESS:
        reason = None
    elif report.status is JobStatus.CANCELED:
        reason = FailureReason.CANCELED
    elif reason is None:
        reason = FailureReason.SYSTEM_FAILURE
    allowed = report.status is JobStatus.FAILED and failure_allowed(
        state.pipeline.job(report.key.job), reason, report.exit_code
    )
    return JobFinished(
        job=report.key.job,
        attempt=report.key.attempt,
        status=report.status.value,
        exit_code=report.exit_code,
        failure_reason=reason.value if reason else "",
        allowed=allowed,
        message=report.message,
        artifacts_blob=report.artifacts_blob,
        worker_at=stamp_text(report.at),
        clock_offset=clock_offset,
        coverage=coverage,
        output_cut=report.output_cut,
        artifacts_cut=report.artifacts_cut,
    )
