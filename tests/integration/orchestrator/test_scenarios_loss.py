"""Losing a worker, fast and fenced: a closed stream costs its attempts after a short
grace, a silent worker after the lease, and a worker that comes back is told to kill
at once what is no longer its own."""

from __future__ import annotations

import asyncio

import pytest

from tests.fakes.executor import FakeJob, FakeStep
from tests.integration.orchestrator.conftest import ClusterFactory
from tests.integration.orchestrator.harness import Cluster, Entry
from xxci.common.events import JobAttemptLost
from xxci.common.status import JobStatus, RunStatus
from xxci.orchestrator.domain.settings import Settings

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


async def lost_reasons(cluster: Cluster, run_id: str) -> list[tuple[str, int, str]]:
    return [
        (r.event.job, r.event.attempt, r.event.reason)
        for r in await cluster.records(run_id)
        if isinstance(r.event, JobAttemptLost)
    ]


async def test_a_worker_whose_stream_closed_loses_its_attempt_after_the_grace(
    cluster: Cluster,
) -> None:
    gone = await cluster.add_worker("w1")
    run_id = await cluster.submit(ONE_JOB)
    await cluster.wait_held("job", gone)
    await cluster.crash(gone)  # its stream closes with it
    await cluster.wait_until(lambda: cluster.session_of(gone) is None, what="the stream to end")

    grace = cluster.settings.disconnect_grace
    assert grace < cluster.settings.lease_ttl
    await cluster.advance(grace - 0.5)
    assert (await cluster.state(run_id)).jobs["job"].status is JobStatus.RUNNING
    await cluster.advance(0.5)
    assert await lost_reasons(cluster, run_id) == [("job", 1, "worker w1 disconnected")]
    assert (await cluster.state(run_id)).jobs["job"].status is JobStatus.QUEUED

    other = await cluster.add_worker("w2")
    await cluster.release("job", other)
    state = await cluster.wait_finished(run_id)
    assert state.status is RunStatus.SUCCESS
    assert [(a.number, a.lost, a.message) for a in state.jobs["job"].attempts] == [
        (1, True, "worker w1 disconnected"),
        (2, False, ""),
    ]


async def test_a_worker_back_within_the_grace_keeps_its_attempt(cluster: Cluster) -> None:
    worker = await cluster.add_worker("w1")
    run_id = await cluster.submit(ONE_JOB)
    await cluster.wait_held("job", worker)
    before = worker.link.connections
    worker.link.cut()  # a blip: the worker reconnects at once
    await cluster.wait_until(
        lambda: worker.link.connections > before and cluster.session_of(worker) is not None,
        what="the worker to come back",
    )
    # Well past the grace (a fresh lease from the re-adoption), within the lease.
    await cluster.advance(cluster.settings.disconnect_grace * 2)
    await cluster.release("job", worker)
    state = await cluster.wait_finished(run_id)

    assert state.status is RunStatus.SUCCESS
    assert await lost_reasons(cluster, run_id) == []
    assert not worker.canceled("job")


async def test_a_silent_worker_loses_its_attempt_only_after_the_lease(cluster: Cluster) -> None:
    stuck = await cluster.add_worker("w1")
    run_id = await cluster.submit(ONE_JOB)
    await cluster.wait_held("job", stuck)
    stuck.link.hold_requests()  # its stream stays open; nothing of it arrives
    silent_since = cluster.clock.monotonic()

    async def lost() -> list[tuple[str, int, str]]:
        found = await lost_reasons(cluster, run_id)
        if not found:
            await cluster.advance(1)
        return found

    # A heartbeat already on its way when it went silent may renew the lease once more.
    assert await cluster.wait_until(lost, what="the attempt to be lost") == [
        ("job", 1, "worker w1 stopped answering")
    ]
    assert cluster.clock.monotonic() - silent_since >= cluster.settings.lease_ttl


async def test_a_returning_worker_kills_at_once_what_was_given_away(
    make_cluster: ClusterFactory,
) -> None:
    cluster = await make_cluster(settings=Settings(heartbeat_interval=0.2, cancel_grace=600))
    # The job traps SIGTERM and would outlast a 10-minute grace: only a kill ends it.
    stubborn = FakeJob(steps=[FakeStep(gate=asyncio.Event())], stop_seconds=3600)
    old = await cluster.add_worker("w1", jobs={"job": stubborn})
    run_id = await cluster.submit(ONE_JOB)
    await cluster.wait_for_event(run_id, "JobStarted", "job", 1)
    await cluster.wait_until(lambda: old.acked, what="the JobStarted acked")
    old.link.block()
    await cluster.wait_until(lambda: cluster.session_of(old) is None, what="the stream to end")
    await cluster.advance(cluster.settings.disconnect_grace)
    new = await cluster.add_worker("w2")
    await cluster.wait_held("job", new)

    old.link.unblock()
    await cluster.wait_until(lambda: old.killed("job"), what="the old copy to be killed")
    await cluster.wait_until(
        lambda: old.executor.runs["job"].result is not None, what="the old copy to end"
    )
    await cluster.release("job", new)
    state = await cluster.wait_finished(run_id)

    assert state.status is RunStatus.SUCCESS
    assert state.jobs["job"].worker_id == new.worker_id
    refused = [(m, a) for m, _, a, _ in await cluster.rejected(old.worker_id)]
    assert ("job_finished", 1) in refused  # its end is recorded as stale, never applied
    assert [e for e in await cluster.history(run_id) if e.type == "JobFinished"] == [
        Entry("JobFinished", "job", 2)
    ]


async def test_a_worker_that_missed_its_cancel_is_killed_when_heard_from(
    make_cluster: ClusterFactory,
) -> None:
    settings = Settings(heartbeat_interval=0.2, cancel_grace=5, cancel_backstop=5, lease_ttl=3600)
    cluster = await make_cluster(settings=settings)
    stubborn = FakeJob(steps=[FakeStep(gate=asyncio.Event())], stop_seconds=3600)
    worker = await cluster.add_worker("w1", jobs={"job": stubborn})
    run_id = await cluster.submit(ONE_JOB)
    await cluster.wait_for_event(run_id, "JobStarted", "job", 1)
    # Nothing the orchestrator says reaches the worker, which goes on heartbeating.
    worker.link.hold_replies()
    await cluster.orchestrator.cancel(run_id, "job")
    await cluster.advance(settings.cancel_grace + settings.cancel_backstop + 1)
    state = await cluster.wait_finished(run_id)  # the back-stop ended the job itself
    assert state.jobs["job"].status is JobStatus.CANCELED
    assert not worker.canceled("job")

    # Its heartbeats still name the job, which is no longer its own: it is killed.
    worker.link.pass_replies()
    await cluster.wait_until(lambda: worker.killed("job"), what="the job to be killed")
