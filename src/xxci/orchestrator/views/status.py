"""``xxci status``: runs in flight, why their jobs wait, and the connected workers. Pure.

The runs come from the fold (the RunBook's live states); the workers are connection
facts the hub holds in memory.

Why a job waits, as the scheduler and the dispatcher would see it:

* PENDING in a running stage: the needs it still waits on (or why it never will run);
* QUEUED: the dispatcher's own matching (:func:`dispatch.match`) over the workers' free
  slots and labels says whether a worker is about to take it, and if none is, why not:
  no worker at all, none with its labels, those are draining, or busy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from xxci.common.attempts import AttemptKey
from xxci.common.status import JobStatus, StageStatus
from xxci.orchestrator.domain.dispatch import QueuedJob, WorkerSlot, match, required_labels
from xxci.orchestrator.domain.lookup import cancel_requested_at, check_needs, queued_jobs
from xxci.orchestrator.domain.state import JobState, RunState
from xxci.orchestrator.views.report import iso, run_report

__all__ = ["STATUS_VERSION", "WorkerView", "queue_reasons", "status_report"]

STATUS_VERSION = 1


@dataclass(frozen=True)
class WorkerView:
    """A connected worker as the status shows it."""

    worker_id: str
    name: str
    capacity: int
    labels: frozenset[str] = frozenset()
    draining: bool = False
    running: tuple[AttemptKey, ...] = ()

    @property
    def free(self) -> int:
        return 0 if self.draining else max(0, self.capacity - len(self.running))


def status_report(active: Sequence[RunState], workers: Sequence[WorkerView]) -> dict[str, Any]:
    """The status document::

        {"status_version": 1,
         "runs": [{<run fields of the report>, "stage": current stage or null,
                   "jobs": [{"name", "stage", "status", "attempt", "worker",
                             "queued_at", "started_at", "reason"}]}],
         "workers": [{"id", "name", "capacity", "free", "labels", "draining",
                      "running": [{"run_id", "pipeline", "number", "job", "attempt"}]}]}

    ``jobs`` lists the unfinished jobs of running stages; ``reason`` says why a PENDING
    or QUEUED one waits (null for running ones).
    """
    reasons = queue_reasons(active, workers)
    runs = [_run_entry(state, reasons) for state in active]
    by_id = {state.run_id: state for state in active}
    return {
        "status_version": STATUS_VERSION,
        "runs": runs,
        "workers": [_worker_entry(w, by_id) for w in workers],
    }


def queue_reasons(
    active: Sequence[RunState], workers: Sequence[WorkerView]
) -> dict[tuple[str, str], str]:
    """Why each QUEUED job of ``active`` is still waiting, by ``(run id, job)``."""
    queued = [
        QueuedJob(
            state.run_id,
            js.name,
            required_labels(state.specs[js.name].tags, state.local),
            js.queued_seq,
        )
        for state in active
        for js in queued_jobs(state)
        if not js.worker_id and js.name in state.specs
    ]
    names = {w.worker_id: w.name for w in workers}
    slots = [WorkerSlot(w.worker_id, w.free, w.labels) for w in workers]
    soon = {(a.run_id, a.job): a.worker_id for a in match(queued, slots)}
    reasons: dict[tuple[str, str], str] = {}
    for q in queued:
        key = (q.run_id, q.job)
        if key in soon:
            reasons[key] = f"worker {names[soon[key]]} has a free slot: about to be assigned"
        else:
            reasons[key] = _why_not(q, workers)
    return reasons


def _why_not(job: QueuedJob, workers: Sequence[WorkerView]) -> str:
    if not workers:
        return "no worker is connected"
    able = [w for w in workers if job.tags <= w.labels]
    if not able:
        labels = ", ".join(sorted(job.tags))
        noun = "label" if len(job.tags) == 1 else "labels"
        return f"no connected worker has the {noun} {labels}"
    if all(w.draining for w in able):
        return "the workers that could take it are draining: " + ", ".join(w.name for w in able)
    if all(w.free == 0 for w in able):
        busy = ", ".join(f"{w.name} {len(w.running)}/{w.capacity}" for w in able)
        return f"every worker that can take it is busy ({busy})"
    return "older queued jobs take the free slots first"


def _run_entry(state: RunState, reasons: dict[tuple[str, str], str]) -> dict[str, Any]:
    entry = {k: v for k, v in run_report(state).items() if k != "stages"}
    running = [s for s in state.stages.values() if s.status is StageStatus.RUNNING]
    entry["stage"] = running[0].name if running else None
    entry["jobs"] = [
        _job_entry(state, js, reasons)
        for stage in running
        for name in stage.jobs
        if not (js := state.jobs[name]).finished
    ]
    return entry


def _job_entry(
    state: RunState, js: JobState, reasons: dict[tuple[str, str], str]
) -> dict[str, Any]:
    return {
        "name": js.name,
        "stage": js.stage,
        "status": js.status.value,
        "attempt": js.attempt,
        "worker": js.worker_name or js.worker_id or None,
        "queued_at": iso(js.queued_at),
        "started_at": iso(js.started_at),
        "reason": _job_reason(state, js, reasons),
    }


def _job_reason(state: RunState, js: JobState, reasons: dict[tuple[str, str], str]) -> str | None:
    if js.status is JobStatus.QUEUED:
        return reasons.get((state.run_id, js.name), "assigned, waiting for the worker")
    if js.status is not JobStatus.PENDING:
        return None
    if cancel_requested_at(state, js) is not None:
        return "cancel requested"
    needs = check_needs(state, js.name)
    if needs.broken:
        return f"will not run: {needs.broken}"
    if needs.waiting_on:
        return "waiting for " + ", ".join(needs.waiting_on)
    if js.lost_attempts:
        return f"attempt {js.attempt} was lost with its worker: about to be queued again"
    return "about to be queued"


def _worker_entry(worker: WorkerView, runs: dict[str, RunState]) -> dict[str, Any]:
    running = []
    for key in sorted(worker.running):
        state = runs.get(key.run_id)
        running.append(
            {
                "run_id": key.run_id,
                "pipeline": state.pipeline.name if state else None,
                "number": state.number if state else None,
                "job": key.job,
                "attempt": key.attempt,
            }
        )
    return {
        "id": worker.worker_id,
        "name": worker.name,
        "capacity": worker.capacity,
        "free": worker.free,
        "labels": sorted(worker.labels),
        "draining": worker.draining,
        "running": running,
    }
