"""Reports: a run's fold rendered as a plain, stable document.

The same document is the per-run file of a local run, the answer of ``GetRun``, and
``xxci report --format json``. Times are RFC 3339 in UTC; durations are seconds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from xxci.orchestrator.state import JobState, RunState, StageState

REPORT_VERSION = 1


def iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def duration(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def job_report(state: RunState, js: JobState) -> dict[str, Any]:
    spec = state.pipeline.job(js.name)
    return {
        "name": js.name,
        "stage": js.stage,
        "status": js.status.value,
        "allowed_failure": js.allowed_failure,
        "failure_reason": js.failure_reason.value if js.failure_reason else None,
        "exit_code": js.exit_code,
        "message": js.message,
        "worker": js.worker_name or js.worker_id or None,
        "attempt": js.attempt,
        "image": spec.image,
        "queued_at": iso(js.queued_at),
        "started_at": iso(js.started_at),
        "finished_at": iso(js.finished_at),
        "duration": duration(js.started_at, js.finished_at),
        "steps": [
            {"index": i, "command": cmd, "exit_code": js.steps.get(i)}
            for i, cmd in enumerate(spec.script)
        ],
        "attempts": [
            {
                "attempt": a.number,
                "worker": a.worker_name or a.worker_id or None,
                "status": a.status.value,
                "exit_code": a.exit_code,
                "failure_reason": a.failure_reason.value if a.failure_reason else None,
                "started_at": iso(a.started_at),
                "finished_at": iso(a.finished_at),
            }
            for a in js.attempts
        ],
        "artifacts_blob": js.artifacts_blob or None,
    }


def stage_report(state: RunState, stage: StageState) -> dict[str, Any]:
    return {
        "name": stage.name,
        "status": stage.status.value,
        "started_at": iso(stage.started_at),
        "finished_at": iso(stage.finished_at),
        "duration": duration(stage.started_at, stage.finished_at),
        "jobs": [
            job_report(state, state.jobs[j.name]) for j in state.pipeline.jobs_in_stage(stage.name)
        ],
    }


def run_report(state: RunState) -> dict[str, Any]:
    """The whole run: its identity, status, times, stages and jobs."""
    return {
        "report_version": REPORT_VERSION,
        "run_id": state.run_id,
        "pipeline": state.pipeline.name,
        "number": state.number,
        "repo": state.repo,
        "branch": state.branch,
        "commit": state.commit,
        "local": state.local,
        "status": state.status.value,
        "created_at": iso(state.created_at),
        "started_at": iso(state.started_at),
        "finished_at": iso(state.finished_at),
        "duration": duration(state.started_at or state.created_at, state.finished_at),
        "last_seq": state.last_seq,
        "stages": [stage_report(state, s) for s in state.stages.values()],
    }
