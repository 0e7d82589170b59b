"""A scenario harness for the pure orchestrator core (zuul style).

A ``Scenario`` holds one run: it appends events the way the orchestrator does, lets the
scheduler settle after each change (decide, append, apply, until nothing is decided),
and plays the worker for whichever jobs the test picks, in the order it picks. Every
event is kept as a ``RecordedEvent`` and as a short line in ``log`` for assertions:

    "StageStarted build", "JobQueued compile#1", "JobFinished lint#1 FAILED script_failure"

While settling it checks two scheduler contracts on every step: each decided event
changes the state (so nothing is decided twice), and a settled state decides nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from xxci.common.attempts import AttemptKey
from xxci.common.events import (
    CancelRequested,
    Event,
    JobAssigned,
    JobAttemptLost,
    JobAwaitingPlay,
    JobDelayed,
    JobFinished,
    JobPlayed,
    JobQueued,
    JobStarted,
    RecordedEvent,
    RunCreated,
    RunFinished,
    RunReopened,
    StageFinished,
    StageStarted,
    StepFinished,
    run_stream,
)
from xxci.common.spec.model import AllowFailure, Job, Pipeline
from xxci.common.status import FailureReason, JobStatus, RunStatus
from xxci.orchestrator.domain.fold import apply
from xxci.orchestrator.domain.messages import JobReport
from xxci.orchestrator.domain.results import finished_event
from xxci.orchestrator.domain.scheduler import decide
from xxci.orchestrator.domain.settings import Settings
from xxci.orchestrator.domain.state import JobState, RunState

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def job(
    name: str,
    stage: str = "test",
    *,
    needs: Sequence[str] = (),
    allow: bool = False,
    exit_codes: Sequence[int] = (),
    retry: int = 0,
    timeout: int = 3600,
    tags: Sequence[str] = (),
    script: Sequence[str] = ("true",),
) -> Job:
    return Job(
        name=name,
        stage=stage,
        image="alpine:3",
        script=tuple(script),
        needs=tuple(needs),
        allow_failure=AllowFailure(allowed=allow or bool(exit_codes), exit_codes=tuple(exit_codes)),
        timeout_seconds=timeout,
        retry=retry,
        tags=tuple(tags),
    )


def pipeline(*jobs: Job, stages: Sequence[str] | None = None) -> Pipeline:
    if stages is None:
        stages = list(dict.fromkeys(j.stage for j in jobs))
    return Pipeline(name="demo", stages=tuple(stages), jobs=tuple(jobs))


def describe(event: Event) -> str:
    """A one-line summary of an event for history assertions."""
    match event:
        case RunCreated():
            return "RunCreated"
        case StageStarted(stage=stage):
            return f"StageStarted {stage}"
        case StageFinished(stage=stage, status=status):
            return f"StageFinished {stage} {status}"
        case RunFinished(status=status):
            return f"RunFinished {status}"
        case JobQueued(job=name, attempt=attempt):
            return f"JobQueued {name}#{attempt}"
        case JobFinished(job=name, attempt=attempt, status=status, failure_reason=reason):
            return " ".join(filter(None, [f"JobFinished {name}#{attempt}", status, reason]))
        case CancelRequested(job=name):
            return f"CancelRequested {name}".rstrip()
        case JobAttemptLost(job=name, attempt=attempt):
            return f"JobAttemptLost {name}#{attempt}"
        case (
            JobAwaitingPlay(job=name)
            | JobPlayed(job=name)
            | JobDelayed(job=name)
            | RunReopened(job=name)
        ):
            return f"{event.type} {name}"
        case _:
            return event.type


_PROGRESS = frozenset({"JobAssigned", "JobStarted", "StepFinished"})


def without_position(state: RunState) -> RunState:
    return dataclasses.replace(state, version=0, last_seq=0)


class Scenario:
    """One run driven through the real fold and scheduler, with a scripted worker."""

    def __init__(
        self,
        spec: Pipeline,
        *,
        now: datetime = T0,
        settings: Settings | None = None,
        source_blob: str = "",
        settle: bool = True,
    ) -> None:
        self.pipeline = spec
        self.now = now
        self.settings = settings or Settings()
        self.records: list[RecordedEvent] = []
        self.states: list[RunState] = []
        self.log: list[str] = []
        self.batches: list[list[str]] = []
        created = RunCreated(
            run_id="r1", pipeline=spec.to_dict(), number=7, repo="repo", source_blob=source_blob
        )
        self.append(created)
        if settle:
            self.settle()

    @property
    def state(self) -> RunState:
        return self.states[-1]

    # --- the orchestrator's part ---------------------------------------------------

    def append(self, *events: Event) -> RunState:
        for event in events:
            version = len(self.records) + 1
            rec = RecordedEvent(
                seq=100 + version,
                stream=run_stream("r1"),
                version=version,
                at=self.now,
                event=event,
            )
            self.states.append(apply(self.states[-1] if self.states else None, rec))
            self.records.append(rec)
            self.log.append(describe(event))
        return self.state

    def settle(self, limit: int = 100) -> None:
        """Decide and append until the scheduler has nothing more to say."""
        for _ in range(limit):
            decided = decide(self.state, self.now, self.settings)
            if not decided:
                return
            assert decide(self.state, self.now, self.settings) == decided, (
                "decide is not deterministic"
            )
            self.batches.append([describe(e) for e in decided])
            for event in decided:
                before = without_position(self.state)
                self.append(event)
                assert without_position(self.state) != before, f"no-op decision {event}"
        raise AssertionError(f"the scheduler did not settle in {limit} rounds: {self.log[-10:]}")

    def record(self, *events: Event) -> None:
        """Append events (from a worker or a user), then let the scheduler react."""
        self.append(*events)
        self.settle()

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.settle()

    def history(self, since: int = 0) -> list[str]:
        """The log from entry ``since``, without the worker's progress events."""
        return [line for line in self.log[since:] if line not in _PROGRESS]

    # --- the worker's part -------------------------------------------------------

    def job(self, name: str) -> JobState:
        return self.state.jobs[name]

    def assign(self, name: str, worker: str = "w1") -> None:
        current = self.job(name)
        assert current.status is JobStatus.QUEUED, f"{name} is {current.status}, not QUEUED"
        self.record(JobAssigned(job=name, attempt=current.attempt, worker_id=worker))

    def start(self, name: str, worker: str = "w1") -> None:
        self.assign(name, worker)
        self.record(JobStarted(job=name, attempt=self.job(name).attempt, container="c"))

    def finish(self, name: str, exit_code: int = 0, reason: FailureReason | None = None) -> None:
        """Report the running attempt: exit 0 succeeds, anything else fails."""
        current = self.job(name)
        assert current.status is JobStatus.RUNNING, f"{name} is {current.status}, not RUNNING"
        if exit_code == 0 and reason is None:
            status = JobStatus.SUCCESS
        else:
            status, reason = JobStatus.FAILED, reason or FailureReason.SCRIPT_FAILURE
        steps = [StepFinished(job=name, attempt=current.attempt, index=0, exit_code=exit_code)]
        key = AttemptKey("r1", name, current.attempt)
        report = JobReport(key, status, exit_code=exit_code, failure_reason=reason)
        self.record(*steps, finished_event(self.state, report))

    def report_canceled(self, name: str) -> None:
        current = self.job(name)
        self.record(
            JobFinished(
                job=name,
                attempt=current.attempt,
                status=JobStatus.CANCELED.value,
                exit_code=143,
                failure_reason=FailureReason.CANCELED.value,
            )
        )

    def run(self, name: str, exit_code: int = 0) -> None:
        self.start(name)
        self.finish(name, exit_code)

    def lose(self, name: str) -> None:
        self.record(JobAttemptLost(job=name, attempt=self.job(name).attempt, reason="gone"))

    def cancel(self, name: str = "") -> None:
        self.record(CancelRequested(job=name, reason="test"))

    # --- assertions ----------------------------------------------------------------

    def statuses(self) -> dict[str, str]:
        return {name: js.status.value for name, js in self.state.jobs.items()}

    def stage_statuses(self) -> dict[str, str]:
        return {name: st.status.value for name, st in self.state.stages.items()}

    def assert_run(self, status: RunStatus) -> None:
        assert self.state.status is status, self.log
        assert self.state.finished_at is not None
        assert all(st.status.finished for st in self.state.stages.values())
        assert all(js.finished for js in self.state.jobs.values())
        assert decide(self.state, self.now + timedelta(days=30), self.settings) == []
