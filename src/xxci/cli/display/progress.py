"""Live progress of a run, rebuilt from its events with the orchestrator's own fold.

On a terminal: one line per job that updates in place (waiting for a worker, starting
on one, running, finished, each with its time). Elsewhere: one plain line per change.
Both say when an attempt was lost with its worker (and why), and end with a summary
table and the message of each job that failed for another reason than its script (an
image that cannot be pulled, a timeout, a lost worker). The commands it suggests are
whole: they name the orchestrator (``--server``, never the token).
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from xxci.cli.display.text import STYLE, fmt_seconds, safe
from xxci.common.events import (
    JobAttemptLost,
    JobAwaitingPlay,
    JobFinished,
    JobQueued,
    RecordedEvent,
)
from xxci.common.printable import printable
from xxci.common.status import FailureReason, JobStatus, RunStatus, StageStatus
from xxci.orchestrator.domain.fold import apply
from xxci.orchestrator.domain.state import JobState, RunState

__all__ = [
    "Progress",
    "command_line",
    "fmt_seconds",
    "job_label",
    "jobs_table",
    "run_headline",
]


def command_line(command: str, again: str, *args: str) -> str:
    """``xxci COMMAND`` with the options that reach the orchestrator and ``args``,
    quoted as a shell needs them: a line to paste."""
    return " ".join(["xxci", command, *filter(None, [again]), *map(shlex.quote, args)])


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
                Text(printable(stage)),
                Text(printable(spec.name)),  # a Text: "deploy: [aws]" is not markup
                Text(job_label(js), style=style),
                Text(printable(js.worker_name or "")),
                time_cell(js, now),
            )
    return table


def run_headline(state: RunState, now: datetime) -> Text:
    start = state.started_at or state.created_at
    end = state.finished_at or now
    took = fmt_seconds((end - start).total_seconds()) if start else ""
    style = STYLE.get(state.status.value, "")
    text = Text(f"pipeline {printable(state.pipeline.name)} #{state.number} ")
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
        note = Text(f"{printable(js.name)}: ", style="bold")
        note.append(f"{reason}: {printable(js.message)}", style=STYLE["FAILED"])
        notes.append(note)
    return notes


class Progress:
    """Feeds events through the fold and shows the result as it changes."""

    def __init__(self, console: Console, *, again: str = "") -> None:
        self.console = console
        self.again = again
        """The options that reach the run's orchestrator, for the commands it suggests
        (``xxci play --server HOST:PORT ...``)."""
        self.state: RunState | None = None
        self._live: Live | None = None
        self._last: dict[str, str] = {}
        self._stages: dict[str, StageStatus] = {}
        self._lost: dict[str, JobAttemptLost] = {}

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
        shown = safe(text) if isinstance(text, Text) else printable(text, keep_newlines=True)
        self.console.print(shown, highlight=False, markup=False, soft_wrap=True)

    def feed(self, rec: RecordedEvent) -> None:
        event = rec.event
        self.state = apply(self.state, rec)
        self._tell_losses(rec)
        if self._live is not None:
            self.refresh()
        else:
            self._plain_changes(rec.at)
        if isinstance(event, JobAwaitingPlay):
            command = command_line("play", self.again, self.run_name, event.job)
            self.log(f"{event.job} waits to be played: {command}")

    @property
    def run_name(self) -> str:
        """``PIPELINE#N``, as commands take it."""
        assert self.state is not None
        return f"{self.state.pipeline.name}#{self.state.number}"

    def _tell_losses(self, rec: RecordedEvent) -> None:
        """A lost attempt, said as such once its job's next step is known: queued
        again, or failed (it lost its worker too often)."""
        event = rec.event
        if isinstance(event, JobAttemptLost):
            self._lost[event.job] = event
            return
        job = getattr(event, "job", "")
        lost = self._lost.pop(job, None) if isinstance(event, JobQueued | JobFinished) else None
        if lost is None:
            return
        why = f" ({lost.reason})" if lost.reason else ""
        then = ", retrying on another worker" if isinstance(event, JobQueued) else ""
        stamp = "" if self.interactive else f"{rec.at.astimezone().strftime('%H:%M:%S')}   "
        self.log(f"{stamp}{job}: attempt {lost.attempt} lost{why}{then}")

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
            self.console.print(safe(note) if isinstance(note, Text) else note, soft_wrap=True)
        self.console.print(safe(run_headline(self.state, now)))

    @property
    def finished(self) -> bool:
        return self.state is not None and self.state.status.finished

    @property
    def succeeded(self) -> bool:
        return self.state is not None and self.state.status is RunStatus.SUCCESS
