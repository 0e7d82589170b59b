"""Times from where they happened: a worker's clock offset, its stamps, and the fold."""

from __future__ import annotations

from datetime import timedelta

from xxci.common.attempts import AttemptKey
from xxci.common.events import JobStarted
from xxci.common.status import JobStatus
from xxci.orchestrator.domain.messages import JobReport
from xxci.orchestrator.domain.results import finished_event
from xxci.orchestrator.domain.worker_time import ClockOffset, event_time, happened_at, stamp_text

from .harness import T0, Scenario, job, pipeline

S = timedelta(seconds=1)


def test_the_offset_is_the_largest_recent_reading() -> None:
    offset = ClockOffset(samples=3)
    assert (offset.known, offset.seconds) == (False, 0.0)
    # The worker's clock is 10 s ahead; messages take 0.5 s, 0.1 s and 2 s to arrive.
    for delay in (0.5, 0.1, 2.0):
        offset.observe(T0 + 10 * S, T0 + delay * S)
    assert (offset.known, offset.seconds) == (True, 9.9)
    offset.observe(None, T0)  # an older worker's heartbeat: no reading
    assert offset.seconds == 9.9


def test_a_clock_that_jumps_is_followed_within_the_window() -> None:
    offset = ClockOffset(samples=3)
    for _ in range(3):
        offset.observe(T0 + 10 * S, T0)
    for _ in range(2):
        offset.observe(T0 - 5 * S, T0)  # set back 15 s by NTP
    assert offset.seconds == 10.0
    offset.observe(T0 - 5 * S, T0)
    assert offset.seconds == -5.0


def test_a_stamp_is_corrected_by_the_offset() -> None:
    received = T0 + 60 * S
    assert happened_at(T0 + 10 * S, 10.0, received) == T0
    assert happened_at(T0 - 7 * S, -7.0, received, not_before=T0 - 30 * S) == T0


def test_a_corrected_stamp_stays_within_what_the_orchestrator_saw() -> None:
    received = T0 + 60 * S
    # Not later than it was received: nothing is heard of before it happens.
    assert happened_at(T0 + 100 * S, 0.0, received) == received
    # Not earlier than the fact before it (a job starts after it was assigned).
    assert happened_at(T0 - 100 * S, 0.0, received, not_before=T0) == T0
    # A fact received before the one it follows cannot be: the receipt wins.
    assert happened_at(T0, 0.0, received, not_before=received + S) == received


def test_without_a_stamp_the_time_of_receipt_counts() -> None:
    assert happened_at(None, 10.0, T0) == T0
    assert event_time("", 10.0, T0) == T0
    assert event_time("yesterday", 0.0, T0) == T0  # unreadable: no stamp
    assert event_time("2024-05-01T11:00:00", 0.0, T0) == T0  # no zone: no stamp
    assert event_time(stamp_text(T0 - 5 * S), 0.0, T0) == T0 - 5 * S


def test_a_result_sent_again_after_an_outage_keeps_its_duration() -> None:
    """A 3 s job finishes while the orchestrator is down; its result arrives 40 s later
    from a worker whose clock runs 2 s ahead. The job took 3 s, not 43."""
    s = Scenario(pipeline(job("build")))
    s.assign("build")
    s.now = T0 + 1 * S
    s.record(
        JobStarted(
            job="build", attempt=1, worker_at=stamp_text(s.now + 2 * S - 0.2 * S), clock_offset=2.0
        )
    )
    ended_by_worker = s.now + 2 * S - 0.2 * S + 3 * S
    s.now += 43 * S
    report = JobReport(
        AttemptKey("r1", "build", 1), JobStatus.SUCCESS, exit_code=0, at=ended_by_worker
    )
    s.record(finished_event(s.state, report, clock_offset=2.0))

    build = s.job("build")
    assert build.status is JobStatus.SUCCESS
    assert build.started_at is not None and build.finished_at is not None
    assert (build.started_at, build.finished_at - build.started_at) == (T0 + 0.8 * S, 3 * S)
    assert build.attempts[-1].finished_at == build.finished_at


def test_an_older_worker_s_job_is_timed_by_receipt() -> None:
    s = Scenario(pipeline(job("build")))
    s.assign("build")
    s.now = T0 + 1 * S
    s.record(JobStarted(job="build", attempt=1))
    s.now += 10 * S
    s.record(finished_event(s.state, JobReport(AttemptKey("r1", "build", 1), JobStatus.SUCCESS)))
    build = s.job("build")
    assert (build.started_at, build.finished_at) == (T0 + S, T0 + 11 * S)
