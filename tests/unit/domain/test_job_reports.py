"""A worker's report of how an attempt ended becomes a JobFinished, allow_failure and all."""

from __future__ import annotations

import pytest

from xxci.common.attempts import AttemptKey
from xxci.common.events import JobFinished
from xxci.common.status import FailureReason, JobStatus
from xxci.orchestrator.domain.messages import JobReport
from xxci.orchestrator.domain.results import finished_event

from .harness import Scenario, job, pipeline

FAILED, SCRIPT = JobStatus.FAILED, FailureReason.SCRIPT_FAILURE


def report(name: str, status: JobStatus, **fields: object) -> JobReport:
    return JobReport(AttemptKey("r1", name, 1), status, **fields)  # type: ignore[arg-type]


@pytest.fixture
def s() -> Scenario:
    return Scenario(
        pipeline(job("strict"), job("lenient", allow=True), job("codes", exit_codes=[3, 137]))
    )


def test_a_success_has_no_reason(s: Scenario) -> None:
    event = finished_event(s.state, report("strict", JobStatus.SUCCESS, exit_code=0))
    assert event == JobFinished(job="strict", attempt=1, status="SUCCESS", exit_code=0)


def test_a_failure_keeps_the_worker_s_words(s: Scenario) -> None:
    said = report("strict", FAILED, exit_code=2, failure_reason=SCRIPT, message="boom")
    assert finished_event(s.state, said) == JobFinished(
        job="strict",
        attempt=1,
        status="FAILED",
        exit_code=2,
        failure_reason="script_failure",
        message="boom",
    )


def test_a_failure_without_a_reason_is_a_system_failure(s: Scenario) -> None:
    event = finished_event(s.state, report("strict", FAILED))
    assert (event.failure_reason, event.allowed) == ("system_failure", False)


@pytest.mark.parametrize(
    ("name", "exit_code", "reason", "allowed"),
    [
        ("lenient", 1, SCRIPT, True),
        ("lenient", None, FailureReason.TIMEOUT, True),
        ("lenient", None, None, True),  # a system failure is a failure too
        ("codes", 3, SCRIPT, True),
        ("codes", 137, SCRIPT, True),
        ("codes", 4, SCRIPT, False),
        ("codes", None, FailureReason.TIMEOUT, False),  # exit codes name script failures
        ("strict", 1, SCRIPT, False),
    ],
)
def test_allow_failure_is_applied_from_the_job_s_spec(
    s: Scenario, name: str, exit_code: int | None, reason: FailureReason | None, allowed: bool
) -> None:
    said = report(name, FAILED, exit_code=exit_code, failure_reason=reason)
    assert finished_event(s.state, said).allowed is allowed


def test_a_cancel_is_canceled_and_never_an_allowed_failure(s: Scenario) -> None:
    said = report("lenient", JobStatus.CANCELED, exit_code=143, failure_reason=SCRIPT)
    event = finished_event(s.state, said)
    assert (event.status, event.failure_reason, event.allowed) == ("CANCELED", "canceled", False)


def test_a_worker_reports_only_an_end() -> None:
    with pytest.raises(ValueError, match="a worker reports how a job ended, not RUNNING"):
        report("strict", JobStatus.RUNNING)
