"""Property tests: odd event sequences never break the fold or the scheduler.

A run is fed a random mix of scheduler decisions, well-behaved worker actions and
arbitrary events (stale attempts, unknown jobs and stages, bogus statuses, events out
of order). After every step: the fold did not raise, decide did not raise and only
decided events that change the state, and the history matches the attempt count. In
the end a worker that completes whatever it is given always brings the run to an end.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xxci.common.events import (
    CancelRequested,
    Event,
    JobAssigned,
    JobAttemptLost,
    JobFinished,
    JobQueued,
    JobStarted,
    MessageRejected,
    RunFinished,
    StageFinished,
    StageStarted,
    StepFinished,
)
from xxci.common.status import FailureReason, JobStatus, RunStatus, StageStatus
from xxci.orchestrator.domain.fold import replay
from xxci.orchestrator.domain.scheduler import decide, jobs_to_cancel

from .harness import Scenario, job, pipeline, without_position

SPEC = pipeline(
    job("a", "build", retry=1),
    job("b", "build", allow=True),
    job("c", "test", needs=["a"], exit_codes=[3], timeout=60),
    job("d", "test", needs=["c", "b"]),
    job("e", "deploy", retry=2, timeout=120),
)

names = st.sampled_from(["a", "b", "c", "d", "e", "ghost"])
stages = st.sampled_from(["build", "test", "deploy", "nowhere"])
attempts = st.integers(min_value=-1, max_value=4)
job_statuses = st.sampled_from([*JobStatus, "BOGUS"])
stage_statuses = st.sampled_from([*StageStatus, "BOGUS"])
run_statuses = st.sampled_from([*RunStatus, "BOGUS"])
reasons = st.sampled_from([*FailureReason, "", "weird"])

arbitrary_events: st.SearchStrategy[Event] = st.one_of(
    st.builds(StageStarted, stage=stages),
    st.builds(StageFinished, stage=stages, status=stage_statuses),
    st.builds(RunFinished, status=run_statuses),
    st.builds(JobQueued, job=names, attempt=attempts),
    st.builds(JobAssigned, job=names, attempt=attempts, worker_id=st.sampled_from(["w1", "w2"])),
    st.builds(JobStarted, job=names, attempt=attempts),
    st.builds(
        StepFinished,
        job=names,
        attempt=attempts,
        index=st.integers(-1, 3),
        exit_code=st.integers(0, 3),
    ),
    st.builds(
        JobFinished,
        job=names,
        attempt=attempts,
        status=job_statuses,
        exit_code=st.none() | st.integers(0, 3),
        failure_reason=reasons,
        allowed=st.booleans(),
    ),
    st.builds(JobAttemptLost, job=names, attempt=attempts),
    st.builds(CancelRequested, job=st.sampled_from(["", "a", "c", "e", "ghost"])),
    st.builds(
        MessageRejected,
        worker_id=st.just("w1"),
        run_id=st.just("r1"),
        job=names,
        attempt=attempts,
        message=st.just("x"),
        reason=st.just("y"),
    ),
)

# A step: an arbitrary event, a round of scheduling, or a worker doing its job properly.
steps = st.one_of(
    arbitrary_events.map(lambda e: ("event", e)),
    st.just(("decide", None)),
    st.tuples(st.sampled_from(["work", "fail", "lose"]), names),
)


def _decide_checked(s: Scenario) -> None:
    """One scheduling round, checking every decision takes effect."""
    for event in decide(s.state, s.now, s.settings):
        before = without_position(s.state)
        s.append(event)
        assert without_position(s.state) != before, f"no-op decision {event}"


def _work(s: Scenario, kind: str, name: str) -> None:
    current = s.state.jobs.get(name)
    if current is None or s.state.finished:
        return
    if current.status is JobStatus.QUEUED:
        s.append(JobAssigned(job=name, attempt=current.attempt, worker_id="w1"))
        s.append(JobStarted(job=name, attempt=current.attempt))
    elif current.status is JobStatus.RUNNING and kind == "lose":
        s.append(JobAttemptLost(job=name, attempt=current.attempt))
    elif current.status is JobStatus.RUNNING:
        ok = kind == "work"
        s.append(
            JobFinished(
                job=name,
                attempt=current.attempt,
                status="SUCCESS" if ok else "FAILED",
                exit_code=0 if ok else 3,
                failure_reason="" if ok else "script_failure",
            )
        )


def _check_invariants(s: Scenario) -> None:
    state = s.state
    for js in state.jobs.values():
        assert len(js.attempts) == js.attempt
        assert [a.number for a in js.attempts] == list(range(1, js.attempt + 1))
        assert js.lost_attempts == sum(a.lost for a in js.attempts)
    if state.finished:
        assert decide(state, s.now + timedelta(days=365), s.settings) == []
    for name, attempt in jobs_to_cancel(state):
        assert state.jobs[name].attempt == attempt


def _drive_to_the_end(s: Scenario) -> None:
    """Schedule, and run whatever is queued or running, until the run is over."""
    for _ in range(300):
        if s.state.finished:
            return
        _decide_checked(s)
        if s.state.finished or decide(s.state, s.now, s.settings):
            continue
        busy = [
            j for j in s.state.jobs.values() if j.status in (JobStatus.QUEUED, JobStatus.RUNNING)
        ]
        if not busy:
            s.now += timedelta(hours=1)
            if not decide(s.state, s.now, s.settings):
                raise AssertionError(f"stuck with nothing to run: {s.log[-12:]}")
        for js in busy:
            _work(s, "work", js.name)
    raise AssertionError(f"the run did not end: {s.log[-12:]}")


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    script=st.lists(st.tuples(steps, st.integers(0, 90)), max_size=40),
    settle_first=st.booleans(),
)
def test_odd_sequences_never_break_the_core(
    script: list[tuple[tuple[str, object], int]], settle_first: bool
) -> None:
    s = Scenario(SPEC, settle=settle_first)
    for (kind, arg), seconds in script:
        s.now += timedelta(seconds=seconds)
        if kind == "event":
            assert isinstance(arg, Event)
            s.append(arg)
        elif kind == "decide":
            _decide_checked(s)
        else:
            assert isinstance(arg, str)
            _work(s, kind, arg)
        _check_invariants(s)

    _drive_to_the_end(s)
    _check_invariants(s)
    assert replay(s.records) == s.state
    assert s.state.finished_at is not None
