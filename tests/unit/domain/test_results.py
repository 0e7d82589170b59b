"""How job outcomes combine, and which failures are allowed."""

from __future__ import annotations

import pytest

from xxci.common.status import FailureReason, JobStatus, StageStatus
from xxci.orchestrator.domain.results import (
    coverage_figure,
    failure_allowed,
    stage_result,
    worst_status,
)
from xxci.orchestrator.domain.state import JobState

from .harness import job

S = StageStatus


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([], S.SUCCESS),
        ([S.SKIPPED, S.SKIPPED], S.SKIPPED),
        ([S.SKIPPED, S.SUCCESS], S.SUCCESS),
        ([S.SUCCESS, S.CANCELED], S.CANCELED),
        ([S.CANCELED, S.FAILED, S.SUCCESS], S.FAILED),
    ],
)
def test_worst_status(results: list[StageStatus], expected: StageStatus) -> None:
    assert worst_status(results) is expected


def test_worst_status_refuses_unfinished_results() -> None:
    with pytest.raises(ValueError, match="unfinished"):
        worst_status([S.SUCCESS, S.RUNNING])


def _js(status: JobStatus, reason: FailureReason | None = None, allowed: bool = False) -> JobState:
    return JobState(
        name="j", stage="s", status=status, failure_reason=reason, allowed_failure=allowed
    )


def test_stage_result_counts_allowed_failures_as_success() -> None:
    assert stage_result([_js(JobStatus.SUCCESS), _js(JobStatus.FAILED, allowed=True)]) is S.SUCCESS
    assert stage_result([_js(JobStatus.SUCCESS), _js(JobStatus.FAILED)]) is S.FAILED


def test_stage_result_shows_the_cause_not_the_dependency_failures() -> None:
    dep = _js(JobStatus.FAILED, FailureReason.DEPENDENCY_FAILED)
    assert stage_result([_js(JobStatus.CANCELED), dep]) is S.CANCELED
    assert stage_result([_js(JobStatus.FAILED), dep]) is S.FAILED
    assert stage_result([_js(JobStatus.SUCCESS), dep]) is S.FAILED  # nothing else explains it


@pytest.mark.parametrize(
    ("allow", "codes", "reason", "exit_code", "expected"),
    [
        (False, (), FailureReason.SCRIPT_FAILURE, 1, False),
        (True, (), FailureReason.SCRIPT_FAILURE, 1, True),
        (True, (), FailureReason.TIMEOUT, None, True),
        (True, (), FailureReason.CANCELED, None, False),
        (True, (3,), FailureReason.SCRIPT_FAILURE, 3, True),
        (True, (3,), FailureReason.SCRIPT_FAILURE, 4, False),
        (True, (3,), FailureReason.SYSTEM_FAILURE, 3, False),
    ],
)
def test_failure_allowed(
    allow: bool,
    codes: tuple[int, ...],
    reason: FailureReason,
    exit_code: int | None,
    expected: bool,
) -> None:
    spec = job("j", allow=allow, exit_codes=codes)
    assert failure_allowed(spec, reason, exit_code) is expected


@pytest.mark.parametrize(
    ("pattern", "log", "figure"),
    [
        (r"/Coverage: \d+\.\d+%/", "Coverage: 10.5%\nmore\nCoverage: 87.25%\n", "87.25"),
        (r"/TOTAL.*\s(\d+)%/", "TOTAL 120 3 97%\n", "97"),
        (r"/Lines:\s+(\d+)/", "nothing here\n", ""),
        (r"/cover (\d+)/i", "COVER 42 of 50\n", "42"),
        ("", "Coverage: 1%", ""),
        # ^ anchors to each line; the last matching line wins.
        (r"/^\s*Lines:\s*(\d+.\d+)\%/", "  Lines: 48.46% (1/2)\n  Lines: 78.46% (1/2)\n", "78.46"),
        # The last group of the match, not the first number of the line.
        (
            r"/All files.*?\|.*?\|.*?([\d\.]+)/",
            "All files            |    99.3 |    97.91 |     100 |\n",
            "97.91",
        ),
        # A later line that matches without a number leaves the figure to an earlier one.
        (r"/Coverage: (\S+)/", "Coverage: 12.5%\nCoverage: n/a\n", "12.5"),
    ],
)
def test_coverage_figure_as_gitlab_reads_it(pattern: str, log: str, figure: str) -> None:
    assert coverage_figure(pattern, log) == figure
