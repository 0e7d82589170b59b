"""Reports: a run's fold rendered as a plain, stable document.

The same document is the per-run file of a local run (:func:`report_file_text`), the
answer of ``GetRun``, and ``xxci report --pipeline P --run N --format json``. Times are
RFC 3339 in UTC; durations are seconds.

A query narrows it (:func:`narrow`) by how much it names:

    level     asked with                  each run holds
    runs      (nothing) or --repo         the run's own fields, no "stages"
    pipeline  --pipeline                  "stages", each without "jobs"
    run       --pipeline --run            everything (the document as is)
    stage     --pipeline --stage          "stages": [that stage], its jobs complete
    job       ... --stage --job           "stages": [that stage with "jobs": [that job]]
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from xxci.orchestrator.domain.assignment import artifacts_name
from xxci.orchestrator.domain.state import JobState, RunState, StageState

__all__ = [
    "REPORT_VERSION",
    "Level",
    "dump_json",
    "job_report",
    "narrow",
    "report_file_text",
    "run_report",
    "stage_report",
    "summary_of",
]

REPORT_VERSION = 1

Level = Literal["runs", "pipeline", "run", "stage", "job"]


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
        "coverage": js.coverage or None,
        "worker": js.worker_name or js.worker_id or None,
        "attempt": js.attempt,
        "image": spec.image,
        "queued_at": iso(js.queued_at),
        "started_at": iso(js.started_at),
        "finished_at": iso(js.finished_at),
        "duration": duration(js.started_at, js.finished_at),
        "steps": [
            {"index": i, "command": cmd, "exit_code": js.steps.get(i)}
            for i, cmd in enumerate((*spec.commands, *spec.after_script))
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
        "artifacts_name": artifacts_name(state, js.name, max(js.attempt, 1)),
        # Only when it happened: reports of runs without a cut stay as they were.
        **({"output_cut": True} if js.output_cut else {}),
        **({"artifacts_cut": True} if js.artifacts_cut else {}),
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


def summary_of(report: dict[str, Any]) -> dict[str, Any]:
    """The report with each stage's ``jobs`` left out (the ``pipeline`` level)."""
    stages = [{k: v for k, v in stage.items() if k != "jobs"} for stage in report["stages"]]
    return {**report, "stages": stages}


def narrow(
    doc: dict[str, Any], level: Level, stage: str = "", job: str = ""
) -> dict[str, Any] | None:
    """``doc`` (a report, or a summary for the ``runs`` and ``pipeline`` levels) cut to
    ``level``; None when it has no such stage or job."""
    if level == "runs":
        return {k: v for k, v in doc.items() if k != "stages"}
    if level == "pipeline":
        return summary_of(doc)
    if level == "run":
        return doc
    found = next((s for s in doc["stages"] if s["name"] == stage), None)
    if found is None:
        return None
    if level == "job":
        jobs = [j for j in found["jobs"] if j["name"] == job]
        if not jobs:
            return None
        found = {**found, "jobs": jobs}
    return {**doc, "stages": [found]}


def dump_json(doc: object) -> str:
    """The one JSON form of report documents, for files and ``--format json`` alike."""
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def report_file_text(state: RunState) -> str:
    """The per-run report file of a local run: byte for byte what ``xxci report
    --pipeline P --run N --format json`` prints for it."""
    return dump_json(run_report(state))
