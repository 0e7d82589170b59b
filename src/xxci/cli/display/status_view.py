"""What ``xxci status`` prints: runs in flight, why their jobs wait, the workers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import RenderableType
from rich.text import Text

from xxci.cli.display.report_view import started_at
from xxci.cli.display.text import (
    fmt_seconds,
    local_time,
    plain,
    short_commit,
    status_text,
    table,
    yes_no,
)
from xxci.common.spec.limits import describe_size

__all__ = ["status_view"]


def status_view(doc: dict[str, Any], now: datetime) -> list[RenderableType]:
    """What ``xxci status`` prints: runs in flight, their waiting jobs, the workers."""
    runs = doc["runs"]
    parts: list[RenderableType] = []
    if not runs:
        parts.append(Text("no runs in flight"))
    else:
        parts.append(Text("RUNS IN FLIGHT", style="bold underline"))
        parts.append(
            table(
                ["RUN", "STATUS", "STAGE", "BRANCH", "COMMIT", "STARTED", "FOR"],
                [
                    [
                        f"{r['pipeline']} #{r['number']}",
                        status_text(r["status"]),
                        plain(r["stage"]),
                        r["branch"],
                        short_commit(r["commit"]),
                        local_time(started_at(r)),
                        fmt_seconds(_since(started_at(r), now)),
                    ]
                    for r in runs
                ],
            )
        )
        jobs = [(r, j) for r in runs for j in r["jobs"]]
        if jobs:
            parts += [Text(""), Text("JOBS", style="bold underline")]
            parts.append(
                table(
                    ["RUN", "JOB", "STATUS", "ATTEMPT", "WORKER", "WHY / FOR"],
                    [
                        [
                            f"{r['pipeline']} #{r['number']}",
                            j["name"],
                            status_text(j["status"]),
                            str(j["attempt"] or ""),
                            plain(j["worker"]),
                            j["reason"] or _running_for(j, now),
                        ]
                        for r, j in jobs
                    ],
                )
            )
    parts.append(Text(""))
    workers = doc["workers"]
    if not workers:
        parts.append(Text("no workers connected"))
    else:
        parts.append(Text("WORKERS", style="bold underline"))
        parts.append(
            table(
                ["NAME", "ID", "CAPACITY", "FREE", "LABELS", "DRAINING", "RUNNING"],
                [
                    [
                        w["name"],
                        w["id"],
                        str(w["capacity"]),
                        str(w["free"]),
                        ", ".join(w["labels"]),
                        yes_no(w["draining"]),
                        ", ".join(_attempt_name(a) for a in w["running"]),
                    ]
                    for w in workers
                ],
            )
        )
    if limits := doc.get("limits"):
        parts += [Text(""), Text(_limits_line(limits))]
    return parts


def _limits_line(limits: dict[str, Any]) -> str:
    return (
        f"limits: pipeline files {describe_size(limits['pipeline_file_bytes'])}, "
        f"{limits['pipeline_jobs']} jobs a run, {limits['job_needs']} needs a job; "
        f"output {describe_size(limits['output_bytes'])} a job, "
        f"artifacts {describe_size(limits['artifact_bytes'])} a job, "
        f"uploads {describe_size(limits['upload_bytes'])} a blob"
    )


def _since(stamp: str | None, now: datetime) -> float | None:
    if not stamp:
        return None
    return max(0.0, (now - datetime.fromisoformat(stamp)).total_seconds())


def _running_for(job: dict[str, Any], now: datetime) -> str:
    if job["started_at"]:
        return f"running for {fmt_seconds(_since(job['started_at'], now))}"
    return "starting (pulling the image, preparing the workspace)"


def _attempt_name(attempt: dict[str, Any]) -> str:
    run = (
        f"{attempt['pipeline']} #{attempt['number']}" if attempt["pipeline"] else attempt["run_id"]
    )
    return f"{run} {attempt['job']}#{attempt['attempt']}"
