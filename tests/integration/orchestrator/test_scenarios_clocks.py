"""A worker whose clock is off: the orchestrator measures by how much, records it, and
times the worker's jobs on its own clock all the same."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.fakes.executor import FakeJob, FakeStep
from tests.integration.orchestrator.conftest import ClusterFactory
from xxci.common.clock import SYSTEM_CLOCK
from xxci.common.events import JobFinished, JobStarted, WorkerConnected
from xxci.common.status import RunStatus

pytestmark = pytest.mark.timeout(30)

ONE_JOB = """
pipeline:
  name: scenario
stages: [test]
default:
  image: busybox
jobs:
  - name: job
    stage: test
    script: [make]
"""

AHEAD = timedelta(hours=1)


class AheadClock:
    """The machine's clocks, the wall clock an hour fast."""

    def now(self) -> datetime:
        return SYSTEM_CLOCK.now() + AHEAD

    def monotonic(self) -> float:
        return SYSTEM_CLOCK.monotonic()


async def test_a_worker_an_hour_ahead_is_timed_on_the_orchestrator_s_clock(
    make_cluster: ClusterFactory,
) -> None:
    cluster = await make_cluster(clock=SYSTEM_CLOCK, hold=False)
    half_a_second = FakeJob(steps=[FakeStep(seconds=0.5)])
    worker = await cluster.add_worker("w1", jobs={"job": half_a_second}, clock=AheadClock())
    run_id = await cluster.submit(ONE_JOB)
    state = await cluster.wait_finished(run_id)
    assert state.status is RunStatus.SUCCESS

    [connected] = [
        e for e in await cluster.worker_events(worker.worker_id) if isinstance(e, WorkerConnected)
    ]
    assert abs(connected.clock_offset - AHEAD.total_seconds()) < 1
    records = await cluster.records(run_id)
    stamped = [r for r in records if isinstance(r.event, JobStarted | JobFinished)]
    offsets = [getattr(r.event, "clock_offset", None) for r in stamped]
    assert offsets == [pytest.approx(3600, abs=1)] * 2
    job = state.jobs["job"]
    assert job.assigned_at is not None and job.started_at is not None
    assert job.finished_at is not None
    # On the orchestrator's clock, in the order it saw things, taking the time it took.
    started_seen, finished_seen = (r.at for r in stamped)
    assert job.assigned_at <= job.started_at <= started_seen
    assert job.finished_at <= finished_seen
    took = (job.finished_at - job.started_at).total_seconds()
    # Each of the two times is corrected by its own estimate of the offset, good to a
    # few milliseconds (a round trip's half), so their difference is too.
    assert 0.45 <= took < 1.5
