"""Repeats: which worker messages, sent again after a reconnect, the run already holds."""

from __future__ import annotations

from xxci.common.events import JobFinished, JobStarted, StepFinished
from xxci.common.status import FailureReason
from xxci.orchestrator.domain.lookup import repeats_finish, repeats_start, repeats_step

from .harness import Scenario, job, pipeline


def finished(
    name: str = "a",
    attempt: int = 1,
    status: str = "SUCCESS",
    exit_code: int | None = 0,
    reason: str = "",
    message: str = "",
) -> JobFinished:
    return JobFinished(
        job=name,
        attempt=attempt,
        status=status,
        exit_code=exit_code,
        failure_reason=reason,
        message=message,
    )


def test_a_job_started_repeats_once_the_attempt_started_with_that_worker() -> None:
    s = Scenario(pipeline(job("a")))
    assert not repeats_start(s.state, "a", 1, "w1")  # queued
    s.assign("a", worker="w1")
    assert not repeats_start(s.state, "a", 1, "w1")  # assigned, not started
    s.record(JobStarted(job="a", attempt=1, container="c"))
    assert repeats_start(s.state, "a", 1, "w1")
    assert not repeats_start(s.state, "a", 1, "w2")  # another worker's
    assert not repeats_start(s.state, "a", 2, "w1")
    assert not repeats_start(s.state, "ghost", 1, "w1")
    s.finish("a")
    assert repeats_start(s.state, "a", 1, "w1")  # still, after the end


def test_a_step_repeats_when_its_index_has_that_exit_code() -> None:
    s = Scenario(pipeline(job("a", script=["x", "y"])))
    s.start("a", worker="w1")
    assert not repeats_step(s.state, "a", 1, "w1", 0, 0)
    s.record(StepFinished(job="a", attempt=1, index=0, exit_code=0))
    assert repeats_step(s.state, "a", 1, "w1", 0, 0)
    assert not repeats_step(s.state, "a", 1, "w1", 1, 0)  # the next step is news
    assert not repeats_step(s.state, "a", 1, "w1", 0, 1)  # a different report
    assert not repeats_step(s.state, "a", 1, "w2", 0, 0)


def test_a_step_of_a_lost_attempt_is_no_repeat() -> None:
    s = Scenario(pipeline(job("a")))
    s.start("a", worker="w1")
    s.record(StepFinished(job="a", attempt=1, index=0, exit_code=0))
    s.lose("a")  # the job is re-queued as attempt 2: attempt 1 is stale, not repeated
    assert not repeats_step(s.state, "a", 1, "w1", 0, 0)


def test_a_job_finished_repeats_only_the_outcome_the_worker_reported() -> None:
    s = Scenario(pipeline(job("a"), job("b")))
    s.start("a", worker="w1")
    assert not repeats_finish(s.state, finished(), "w1")  # still running
    s.record(finished(message="done"))
    assert repeats_finish(s.state, finished(message="done"), "w1")
    assert not repeats_finish(s.state, finished(message="done"), "w2")
    assert not repeats_finish(s.state, finished(status="FAILED", exit_code=1), "w1")
    assert not repeats_finish(s.state, finished(message="other"), "w1")


def test_an_end_the_orchestrator_decided_is_no_repeat_of_the_worker_s_report() -> None:
    s = Scenario(pipeline(job("a")))
    s.start("a", worker="w1")
    timeout = FailureReason.TIMEOUT.value
    s.record(finished(status="FAILED", exit_code=None, reason=timeout, message="no result"))
    worker_says = finished(status="FAILED", exit_code=None, reason=timeout, message="killed")
    assert not repeats_finish(s.state, worker_says, "w1")
