"""Live progress of a run, rebuilt from its events with the orchestrator's own fold.

On a terminal: one line per job that updates in place (waiting for a worker, starting
on one, running, finished, each with its time). Elsewhere: one plain line per change.
Both end with a summary table, and the message of each job that failed for another
reason than its script (an image that cannot be pulled, a timeout, a lost worker).
"""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from xxci.cli.display.text import STYLE, fmt_seconds
from xxci.common.events import JobAwaitingPlay, RecordedEvent
from xxci.common.status import FailureReason, JobStatus, RunStatus, StageStatus
from xxci.orchestrator.domain.state import JobState, RunState, apply

__all__ = ["Progress", "fmt_seconds", "job_label", "jobs_table", "run_headline"]


def job_label(js: JobState) -> str:
    """``FAILED (allowed)``, ``FAILED exit 3``, ``FAILED (dependency_failed)``..."""
    label = js.status.value
    if js.status is JobStatus.FAILED:
        if (
            js.exit_code is not None
            and js.failure_reason
            and js.failure_reason.value == "script_failure"
        ):
            label += f" exit {js.exit_code}"
        elif js.failure_reason:
            label += f" ({js.failure_reason.value})"
        if js.allowed_failure:
            label += " [allowed]"
    return label


def job_time(js: JobState, now: datetime) -> float | None:
    if js.started_at is None:
        return None
    end = js.finished_at or now
    return (end - js.started_at).total_seconds()


def time_cell(js: JobState, now: datetime) -> Text:
    """How long the job ran (or runs); for one not started yet, how long it has been
    waiting for a worker, or starting on one (image pull, workspace)."""
    if js.started_at is not None:
        return Text(fmt_seconds(job_time(js, now)))
    if js.finished:
        return Text("")
    if js.status is JobStatus.RUNNING and js.assigned_at is not None:
        return Text(f"starting {fmt_seconds((now - js.assigned_at).total_seconds())}", "dim")
    if js.status is JobStatus.QUEUED and js.queued_at is not None:
        return Text(f"waiting {fmt_seconds((now - js.queued_at).total_seconds())}", "dim")
    return Text("")


def jobs_table(state: RunState, now: datetime, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    for column in ("STAGE", "JOB", "STATUS", "WORKER", "TIME"):
        table.add_column(column)
    for stage in state.pipeline.stages:
        for spec in state.pipeline.jobs_in_stage(stage):
            js = state.jobs[spec.name]
            style = STYLE.get(js.status.value, "")
            if js.allowed_failure:
                style = "yellow"
            table.add_row(
                stage,
                spec.name,
                Text(job_label(js), style=style),
                js.worker_name or "",
                time_cell(js, now),
            )
    return table


def run_headline(state: RunState, now: datetime) -> Text:
    start = state.started_at or state.created_at
    end = state.finished_at or now
    took = fmt_seconds((end - start).total_seconds()) if start else ""
    style = STYLE.get(state.status.value, "")
    text = Text(f"pipeline {state.pipeline.name} #{state.number} ")
    text.append(state.status.value, style=f"bold {style}")
    if took:
        text.append(f" {'in' if state.finished else 'for'} {took}")
    return text


def failure_notes(state: RunState) -> list[Text]:
    """``job: reason: message`` for each job that failed (not allowed) for another
    reason than its script, whose exit code the table already shows."""
    notes = []
    for js in state.jobs.values():
        if js.status is not JobStatus.FAILED or js.allowed_failure or not js.message:
            continue
        if js.failure_reason in (FailureReason.SCRIPT_FAILURE, FailureReason.DEPENDENCY_FAILED):
            continue
        reason = js.failure_reason.value if js.failure_reason else "failed"
        note = Text(f"{js.name}: ", style="bold")
        note.append(f"{reason}: {js.message}", style=STYLE["FAILED"])
        notes.append(note)
    return notes


class Progress:
    """Feeds events through the fold and shows the result as it changes."""

    def __init__(self, console: Console, *, local: bool = False) -> None:
        self.console = console
        self.local = local
        """Whether the run is a local one (``xxci play --local`` then)."""
        self.state: RunState | None = None
        self._live: Live | None = None
        self._last: dict[str, str] = {}
        self._stages: dict[str, StageStatus] = {}

    @property
    def interactive(self) -> bool:
        return self.console.is_terminal

    def __enter__(self) -> Progress:
        if self.interactive:
            self._live = Live(
                Text("submitting..."), console=self.console, refresh_per_second=4, transient=True
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def log(self, text: Text | str) -> None:
        """Print above the live table (or plainly)."""
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)

    def feed(self, rec: RecordedEvent) -> None:
        self.state = apply(self.state, rec)
        if self._live is not None:
            self.refresh()
        else:
            self._plain_changes(rec.at)
        if isinstance(rec.event, JobAwaitingPlay):
            run = f"{self.state.pipeline.name}#{self.state.number}"
            flag = " --local" if self.local else ""
            self.log(f"{rec.event.job} waits to be played: xxci play{flag} {run} '{rec.event.job}'")

    def refresh(self) -> None:
        if self._live is not None and self.state is not None:
            now = datetime.now(UTC)
            self._live.update(Group(run_headline(self.state, now), jobs_table(self.state, now)))

    def _plain_changes(self, at: datetime) -> None:
        state = self.state
        assert state is not None
        stamp = at.astimezone().strftime("%H:%M:%S")
        for name, stage in state.stages.items():
            if self._stages.get(name) != stage.status and stage.status is not StageStatus.PENDING:
                self._stages[name] = stage.status
                self.log(f"{stamp} stage {name}: {stage.status.value}")
        for spec in state.pipeline.jobs:
            js = state.jobs[spec.name]
            label = job_label(js)
            if js.status is JobStatus.RUNNING and js.worker_name:
                label += f" on {js.worker_name}"
            if js.status.finished:
                took = fmt_seconds(job_time(js, at))
                if took:
                    label += f" in {took}"
            if self._last.get(spec.name) != label and js.status is not JobStatus.PENDING:
                self._last[spec.name] = label
                self.log(f"{stamp}   {spec.name}: {label}")

    def summary(self) -> None:
        if self.state is None:
            return
        now = datetime.now(UTC)
        self.console.print(jobs_table(self.state, now))
        for note in failure_notes(self.state):
            self.console.print(note, soft_wrap=True)
        self.console.print(run_headline(self.state, now))

    @property
    def finished(self) -> bool:
        return self.state is not None and self.state.status.finished

    @property
    def succeeded(self) -> bool:
        return self.state is not None and self.state.status is RunStatus.SUCCESS
