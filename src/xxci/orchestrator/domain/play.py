"""What ``xxci play RUN JOB`` means for a run, decided once for the server and --local."""

from __future__ import annotations

from xxci.common.errors import NotFoundError
from xxci.common.events import JobPlayed, RunReopened
from xxci.common.spec.model import When
from xxci.common.status import JobStatus
from xxci.orchestrator.domain.cancel import CancelDecision
from xxci.orchestrator.domain.state import RunState

__all__ = ["decide_play"]


def decide_play(state: RunState, job: str, by: str = "") -> CancelDecision:
    """Play a manual job that waits (MANUAL). Pure; raises NotFoundError for a job the
    run does not have. In a finished run it opens the run again (``RunReopened``). The
    decision is refused, with the reason, for a job that is not waiting to be played."""
    title = f"{state.pipeline.name} #{state.number}"
    found = state.jobs.get(job)
    if found is None:
        waiting = [j.name for j in state.jobs.values() if j.status is JobStatus.MANUAL]
        known = f" (waiting to be played: {', '.join(waiting)})" if waiting else ""
        raise NotFoundError(f"run {title} has no job {job!r}{known}")
    if found.status is not JobStatus.MANUAL:
        if state.status.finished:
            return CancelDecision(False, f"run {title} already finished ({state.status.value})")
        manual = state.specs[job].when is When.MANUAL
        why = (
            f"it is {found.status.value}, not waiting to be played"
            if manual
            else "it is not a manual job"
        )
        return CancelDecision(False, f"cannot play job {job!r} of {title}: {why}")
    played = JobPlayed(job=job, by=by)
    if state.status.finished:
        # As in GitLab, a finished run with a manual job left unplayed opens again.
        message = f"played job {job} of {title} (the run, {state.status.value}, is open again)"
        return CancelDecision(True, message, (RunReopened(job=job), played))
    return CancelDecision(True, f"played job {job} of {title}", (played,))
