"""What ``xxci report`` prints: runs, stages, jobs and commands of a report document."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import RenderableType
from rich.text import Text

from xxci.cli.display.text import (
    FINISHED,
    GUTTER,
    fmt_seconds,
    local_time,
    plain,
    short_commit,
    status_text,
    table,
    yes_no,
)
from xxci.common.printable import printable

__all__ = ["job_detail", "report_view", "run_title", "started_at"]


def report_view(doc: dict[str, Any], level: str) -> list[RenderableType]:
    """What ``xxci report`` prints for the document of a query at ``level``."""
    runs: list[dict[str, Any]] = [doc] if level == "run" or "runs" not in doc else doc["runs"]
    if not runs:
        return [Text("no runs")]
    if level == "runs":
        return [runs_table(runs)]
    parts: list[RenderableType] = []
    for i, run in enumerate(runs):
        if i:
            parts.append(Text(""))
        parts.append(run_title(run))
        if level in ("pipeline", "run"):
            parts.append(stages_table(run["stages"]))
        for stage in run["stages"] if level in ("stage", "job") else ():
            parts.append(stage_title(stage))
            if level == "stage":
                parts.append(jobs_table(stage["jobs"]))
            else:
                for job in stage["jobs"]:
                    parts += job_detail(job)
    return parts


def runs_table(runs: Sequence[dict[str, Any]]) -> Text:
    return table(
        ["PIPELINE", "RUN", "BRANCH", "COMMIT", "STATUS", "STARTED", "FINISHED", "DURATION"],
        [
            [
                r["pipeline"],
                f"#{r['number']}",
                r["branch"],
                short_commit(r["commit"]),
                status_text(r["status"]),
                local_time(started_at(r)),
                local_time(r["finished_at"], started_at(r)),
                fmt_seconds(r["duration"]),
            ]
            for r in runs
        ],
    )


def started_at(run: dict[str, Any]) -> str | None:
    started: str | None = run["started_at"] or run["created_at"]
    return started


def run_title(run: dict[str, Any]) -> Text:
    """``example #3 SUCCESS  branch main  commit 1a2b3c4d  started ...  took 1m05s``."""
    title = Text(f"{run['pipeline']} #{run['number']} ", style="bold")
    title.append_text(status_text(run["status"]))
    details = [
        ("branch", run["branch"]),
        ("commit", short_commit(run["commit"])),
        ("started", local_time(started_at(run))),
        ("finished", local_time(run["finished_at"], started_at(run))),
        ("took", fmt_seconds(run["duration"])),
    ]
    for label, value in details:
        if value:
            title.append(f"{GUTTER}{label} {value}")
    return title


def stages_table(stages: Sequence[dict[str, Any]]) -> Text:
    return table(
        ["STAGE", "STATUS", "STARTED", "FINISHED", "DURATION"],
        [
            [
                s["name"],
                status_text(s["status"]),
                local_time(s["started_at"]),
                local_time(s["finished_at"], s["started_at"]),
                fmt_seconds(s["duration"]),
            ]
            for s in stages
        ],
    )


def stage_title(stage: dict[str, Any]) -> Text:
    title = Text(f"stage {stage['name']} ")
    title.append_text(status_text(stage["status"]))
    if stage["started_at"]:
        title.append(f"{GUTTER}started {local_time(stage['started_at'])}")
    if stage["duration"] is not None:
        title.append(f"{GUTTER}took {fmt_seconds(stage['duration'])}")
    return title


def jobs_table(jobs: Sequence[dict[str, Any]]) -> Text:
    return table(
        [
            "JOB",
            "STATUS",
            "ALLOWED FAILURE",
            "REASON",
            "EXIT",
            "WORKER",
            "STARTED",
            "FINISHED",
            "DURATION",
        ],
        [
            [
                j["name"],
                status_text(j["status"], j["allowed_failure"]),
                yes_no(j["allowed_failure"]) if j["status"] in FINISHED else "",
                plain(j["failure_reason"]),
                plain(j["exit_code"]),
                plain(j["worker"]),
                local_time(j["started_at"]),
                local_time(j["finished_at"], j["started_at"]),
                fmt_seconds(j["duration"]),
            ]
            for j in jobs
        ],
    )


def job_detail(job: dict[str, Any]) -> list[RenderableType]:
    """A job: its outcome, its attempts, and each script command with its exit code."""
    head = Text(f"job {printable(job['name'])} ", style="bold")
    head.append_text(status_text(job["status"], job["allowed_failure"]))
    facts = [
        ("allowed failure", yes_no(job["allowed_failure"])),
        ("reason", plain(job["failure_reason"])),
        ("exit code", plain(job["exit_code"])),
        ("worker", plain(job["worker"])),
        ("image", plain(job["image"])),
        ("queued", local_time(job["queued_at"])),
        ("started", local_time(job["started_at"])),
        ("finished", local_time(job["finished_at"])),
        ("duration", fmt_seconds(job["duration"])),
        ("message", plain(job["message"])),
        ("coverage", f"{job['coverage']}%" if job.get("coverage") else ""),
        ("log", "cut at the output limit" if job.get("output_cut") else ""),
        ("artifacts", "cut at the artifact limit" if job.get("artifacts_cut") else ""),
    ]
    width = max(len(label) for label, _ in facts)
    lines = [Text(f"  {label:<{width}}  {printable(value)}") for label, value in facts if value]
    attempts = table(
        ["ATTEMPT", "STATUS", "REASON", "EXIT", "WORKER", "STARTED", "FINISHED"],
        [
            [
                str(a["attempt"]),
                status_text(a["status"]),
                plain(a["failure_reason"]),
                plain(a["exit_code"]),
                plain(a["worker"]),
                local_time(a["started_at"]),
                local_time(a["finished_at"], a["started_at"]),
            ]
            for a in job["attempts"]
        ],
    )
    steps = table(
        ["STEP", "EXIT", "COMMAND"],
        [[str(s["index"]), plain(s["exit_code"]) or "not run", s["command"]] for s in job["steps"]],
    )
    attempt = job["attempt"]
    return [
        head,
        *lines,
        Text(""),
        attempts if job["attempts"] else Text("never queued", style="dim"),
        Text(""),
        Text(f"commands (attempt {attempt})" if attempt else "commands"),
        steps,
    ]
