"""What a cancel request means for a run, decided once for the server and --local."""

from __future__ import annotations

from dataclasses import dataclass

from xxci.common.errors import NotFoundError
from xxci.common.events import CancelRequested, Event
from xxci.orchestrator.domain.state import RunState


@dataclass(frozen=True)
class CancelDecision:
    """Whether the request is taken, the line to show the user, and what to append."""

    accepted: bool
    message: str
    events: tuple[Event, ...] = ()


def decide_cancel(state: RunState, job: str = "", reason: str = "") -> CancelDecision:
    """Cancel the run (``job`` empty) or one job. Pure; raises NotFoundError for a job
    the run does not have."""
    title = f"{state.pipeline.name} #{state.number}"
    if state.status.finished:
        return CancelDecision(False, f"run {title} already finished ({state.status.value})")
    if job and job not in state.jobs:
        raise NotFoundError(f"run {title} has no job {job!r}")
    what = f"job {job}" if job else "run"
    return CancelDecision(
        True,
        f"cancel requested for {what} of {title}",
        (CancelRequested(job=job, reason=reason),),
    )
