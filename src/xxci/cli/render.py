"""Text for people, and JSON/YAML for scripts, of report and status documents.

Text goes through rich: statuses are coloured on a terminal and plain when the output
is piped (rich's Console decides; NO_COLOR is honoured). Tables are aligned columns
built as one rich ``Text`` rather than a ``rich.table.Table``: a listing of 10,000
runs renders in about 0.15 s that way, against several seconds as a Table. Times are
shown in local time; the documents themselves keep RFC 3339 UTC.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.text import Span, Text
from ruamel.yaml import YAML

from xxci.common.events import RecordedEvent
from xxci.common.status import JobStatus
from xxci.orchestrator.views.audit import event_document, event_fields
from xxci.orchestrator.views.report import dump_json

__all__ = [
    "STYLE",
    "dump_document",
    "event_json",
    "event_line",
    "fmt_seconds",
    "local_time",
    "make_console",
    "report_view",
    "status_text",
    "status_view",
    "table",
]

STYLE = {
    "PENDING": "dim",
    "QUEUED": "yellow",
    "RUNNING": "cyan",
    "SUCCESS": "green",
    "FAILED": "red",
    "CANCELED": "magenta",
    "SKIPPED": "dim",
}

GUTTER = "  "

_FINISHED = frozenset(s.value for s in JobStatus if s.finished)


def make_console() -> Console:
    """A console on stdout; when it is not a terminal, wide enough never to wrap."""
    console = Console(file=sys.stdout, highlight=False)
    if not console.is_terminal:
        console = Console(file=sys.stdout, highlight=False, width=100_000)
    return console


def print_all(console: Console, parts: Iterable[RenderableType]) -> None:
    for part in parts:
        if isinstance(part, Text) and not console.is_terminal:
            # Piped: rich would write the plain text anyway, only slower (10k rows: 0.3 s).
            console.file.write(part.plain + "\n")
        else:
            console.print(part, soft_wrap=True)


# --- values -----------------------------------------------------------------------


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def local_time(stamp: str | None, since: str | None = None) -> str:
    """``2024-05-01 14:00:05`` in local time; only ``14:00:05`` when ``since`` (an
    earlier time of the same row) falls on the same local day."""
    if not stamp:
        return ""
    at = datetime.fromisoformat(stamp).astimezone()
    if since and datetime.fromisoformat(since).astimezone().date() == at.date():
        return at.strftime("%H:%M:%S")
    return at.strftime("%Y-%m-%d %H:%M:%S")


def status_text(status: str | None, allowed: bool = False) -> Text:
    """A status, coloured; a failure that allow_failure permits shows in yellow."""
    if not status:
        return Text("")
    return Text(status, style="yellow" if allowed else STYLE.get(status, ""))


def yes_no(value: object) -> str:
    return "yes" if value else "no"


def _text(value: object) -> str:
    return "" if value is None else str(value)


def short_commit(commit: str | None) -> str:
    return (commit or "")[:8]


def table(headers: Sequence[str], rows: Sequence[Sequence[str | Text]]) -> Text:
    """Aligned columns (two spaces apart), a bold header row, no trailing blanks.

    Built as one string with style spans: thousands of rows take milliseconds."""
    lines = [[_cell(Text(h, style="bold")) for h in headers]]
    lines += [[_cell(c) for c in row] for row in rows]
    widths = [max(line[i][1] for line in lines) for i in range(len(headers))]
    parts: list[str] = []
    spans: list[Span] = []
    offset = 0
    for n, line in enumerate(lines):
        if n:
            parts.append("\n")
            offset += 1
        last = max((i for i, (plain, _, _) in enumerate(line) if plain), default=0)
        for i, (plain, width, text) in enumerate(line[: last + 1]):
            if i:
                parts.append(GUTTER)
                offset += len(GUTTER)
            if text is not None:
                if text.style:
                    spans.append(Span(offset, offset + len(plain), text.style))
                spans += [span.move(offset) for span in text.spans]
            parts.append(plain)
            offset += len(plain)
            if i < last:
                parts.append(" " * (widths[i] - width))
                offset += widths[i] - width
    return Text("".join(parts), spans=spans, no_wrap=True, overflow="ignore")


def _cell(cell: str | Text) -> tuple[str, int, Text | None]:
    """(plain text, width in terminal cells, the styled Text or None)."""
    text = cell if isinstance(cell, Text) else None
    plain = cell.plain if isinstance(cell, Text) else cell
    return plain, len(plain) if plain.isascii() else cell_len(plain), text


# --- report -----------------------------------------------------------------------


def dump_document(doc: object, fmt: str) -> str:
    """``doc`` as ``json`` (the one serialization of report files) or ``yaml``."""
    if fmt == "json":
        return dump_json(doc)
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    buffer = io.StringIO()
    yaml.dump(doc, buffer)
    return buffer.getvalue()


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
                local_time(_started(r)),
                local_time(r["finished_at"], _started(r)),
                fmt_seconds(r["duration"]),
            ]
            for r in runs
        ],
    )


def _started(run: dict[str, Any]) -> str | None:
    started: str | None = run["started_at"] or run["created_at"]
    return started


def run_title(run: dict[str, Any]) -> Text:
    """``example #3 SUCCESS  branch main  commit 1a2b3c4d  started ...  took 1m05s``."""
    title = Text(f"{run['pipeline']} #{run['number']} ", style="bold")
    title.append_text(status_text(run["status"]))
    details = [
        ("branch", run["branch"]),
        ("commit", short_commit(run["commit"])),
        ("started", local_time(_started(run))),
        ("finished", local_time(run["finished_at"], _started(run))),
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
                yes_no(j["allowed_failure"]) if j["status"] in _FINISHED else "",
                _text(j["failure_reason"]),
                _text(j["exit_code"]),
                _text(j["worker"]),
                local_time(j["started_at"]),
                local_time(j["finished_at"], j["started_at"]),
                fmt_seconds(j["duration"]),
            ]
            for j in jobs
        ],
    )


def job_detail(job: dict[str, Any]) -> list[RenderableType]:
    """A job: its outcome, its attempts, and each script command with its exit code."""
    head = Text(f"job {job['name']} ", style="bold")
    head.append_text(status_text(job["status"], job["allowed_failure"]))
    facts = [
        ("allowed failure", yes_no(job["allowed_failure"])),
        ("reason", _text(job["failure_reason"])),
        ("exit code", _text(job["exit_code"])),
        ("worker", _text(job["worker"])),
        ("image", _text(job["image"])),
        ("queued", local_time(job["queued_at"])),
        ("started", local_time(job["started_at"])),
        ("finished", local_time(job["finished_at"])),
        ("duration", fmt_seconds(job["duration"])),
        ("message", _text(job["message"])),
    ]
    width = max(len(label) for label, _ in facts)
    lines = [Text(f"  {label:<{width}}  {value}") for label, value in facts if value]
    attempts = table(
        ["ATTEMPT", "STATUS", "REASON", "EXIT", "WORKER", "STARTED", "FINISHED"],
        [
            [
                str(a["attempt"]),
                status_text(a["status"]),
                _text(a["failure_reason"]),
                _text(a["exit_code"]),
                _text(a["worker"]),
                local_time(a["started_at"]),
                local_time(a["finished_at"], a["started_at"]),
            ]
            for a in job["attempts"]
        ],
    )
    steps = table(
        ["STEP", "EXIT", "COMMAND"],
        [[str(s["index"]), _text(s["exit_code"]) or "not run", s["command"]] for s in job["steps"]],
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


# --- status -----------------------------------------------------------------------


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
                        _text(r["stage"]),
                        r["branch"],
                        short_commit(r["commit"]),
                        local_time(_started(r)),
                        fmt_seconds(_since(_started(r), now)),
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
                            _text(j["worker"]),
                            j["reason"] or _running_for(j, now),
                        ]
                        for r, j in jobs
                    ],
                )
            )
    parts.append(Text(""))
    workers = doc["workers"]
    if workers is None:
        parts.append(
            Text(
                "workers: not visible from the local log (a local run's worker lives in"
                " its `xxci run --local` process)",
                style="dim",
            )
        )
    elif not workers:
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
    return parts


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


# --- events -----------------------------------------------------------------------


def event_json(rec: RecordedEvent) -> str:
    """One JSONL line: seq, stream, version, type, data (the event's fields), at (UTC)."""
    return json.dumps(event_document(rec), sort_keys=True)


def event_line(rec: RecordedEvent) -> str:
    """``seq  time  stream  v  type  fields``; empty fields are left out, and a run's
    resolved pipeline shows as its name (``xxci events --format json`` has it all)."""
    at = rec.at.astimezone().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    shown = event_fields(rec)
    return f"{rec.seq:>6}  {at}  {rec.stream:<19}  {rec.version:>3}  {rec.event.type:<18}  {shown}"
