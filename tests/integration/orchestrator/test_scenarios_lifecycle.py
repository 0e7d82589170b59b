"""Scenarios of a run's life around the real orchestrator: restarts of the
orchestrator, cancels, and timeouts (reported by the worker, or decided by the
scheduler's back-stop when no report comes)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from tests.fakes.clock import FakeClock
from tests.fakes.executor import FakeJob, FakeStep
from tests.integration.orchestrator.conftest import ClusterFactory
from tests.integration.orchestrator.harness import SETTINGS, Cluster, Entry
from xxci.cli.client.remote import GrpcClient
from xxci.common.api import Submission
from xxci.common.attempts import AttemptKey
from xxci.common.clock import SYSTEM_CLOCK
from xxci.common.errors import XxciError
from xxci.common.events import (
    Event,
    JobAssigned,
    JobFinished,
    JobStarted,
    encode_event,
    run_stream,
)
from xxci.common.spec.loader import load_pipeline_text
from xxci.common.status import FailureReason, JobStatus, RunStatus, StageStatus
from xxci.orchestrator.domain.play import decide_play
from xxci.orchestrator.domain.settings import Settings
from xxci.orchestrator.domain.state import RunState
from xxci.orchestrator.runtime.runs import RunBook
from xxci.orchestrator.store import EventStore

pytestmark = pytest.mark.timeout(30)

PROGRESS = ("JobStarted", "StepFinished")

TWO_STAGES = """
pipeline:
  name: scenario
stages: [build, test]
default:
  image: busybox
jobs:
  - name: compile
    stage: build
    script: [make]
  - name: unit
    stage: test
    script: [make unit]
  - name: lint
    stage: test
    script: [make lint]
"""


# --- orchestrator restart -----------------------------------------------------------------


async def test_a_restarted_orchestrator_resumes_the_run_from_its_log(
    make_cluster: ClusterFactory,
) -> None:
    # The restarted orchestrator gives running attempts a fresh lease, which the worker
    # re-adopts when it redials.
    cluster = await make_cluster()
    worker = await cluster.add_worker("w1", capacity=2)
    run_id = await cluster.submit(TWO_STAGES)
    await cluster.wait_held("compile")
    await cluster.wait_for_event(run_id, "JobStarted", "compile", 1)

    # 1. Restart while compile is held on the worker, which keeps running it.
    await cluster.restart()
    session = await cluster.wait_connected(worker)
    assert AttemptKey(run_id, "compile", 1) in session.attempts
    await cluster.release("compile")
    # (Until their JobStarted is stored: a message in flight when the orchestrator
    # stops is lost, see test_a_message_in_flight_when_the_stream_breaks_is_kept.)
    await cluster.wait_for_event(run_id, "JobStarted", "unit", 1)
    await cluster.wait_for_event(run_id, "JobStarted", "lint", 1)
    await cluster.wait_held("unit")

    # 2. Stop it, let unit end while nobody listens, start it again.
    await cluster.stop_orchestrator()
    worker.release("unit")
    await cluster.wait_until(lambda: worker.executor.runs["unit"].result, what="unit to end")
    await cluster.start()
    await cluster.wait_for_event(run_id, "JobFinished", "unit", 1)
    await cluster.release("lint")
    state = await cluster.wait_finished(run_id)

    assert state.status is RunStatus.SUCCESS
    assert await cluster.history(run_id, without=PROGRESS) == [
        Entry("RunCreated", "", 0),
        Entry("StageStarted", "build", 0),
        Entry("JobQueued", "compile", 1),
        Entry("JobAssigned", "compile", 1),
        Entry("JobFinished", "compile", 1),
        Entry("StageFinished", "build", 0),
        Entry("StageStarted", "test", 0),
        Entry("JobQueued", "unit", 1),
        Entry("JobQueued", "lint", 1),
        Entry("JobAssigned", "unit", 1),
        Entry("JobAssigned", "lint", 1),
        Entry("JobFinished", "unit", 1),
        Entry("JobFinished", "lint", 1),
        Entry("StageFinished", "test", 0),
        Entry("RunFinished", "", 0),
    ]
    for job in ("compile", "unit", "lint"):
        assert await cluster.job_history(run_id, job) == [
            Entry("JobQueued", job, 1),
            Entry("JobAssigned", job, 1),
            Entry("JobStarted", job, 1),
            Entry("StepFinished", job, 1),
            Entry("JobFinished", job, 1),
        ]
    records = await cluster.records(run_id)
    assert [r.version for r in records] == list(range(1, len(records) + 1))
    seqs = [r.seq for r in records]
    assert seqs == sorted(set(seqs))
    encoded = [encode_event(r.event) for r in records]
    assert len(set(encoded)) == len(encoded), "an event was recorded twice"
    assert await cluster.log_text(run_id, "unit") == "unit: make unit\n"


# --- cancel -----------------------------------------------------------------------------


async def test_cancel_stops_the_running_job_on_its_worker(cluster: Cluster) -> None:
    worker = await cluster.add_worker("w1")
    async with GrpcClient(cluster.address) as client:
        submitted = await client.submit(Submission(file_name="test.yml", yaml_text=TWO_STAGES))
        run_id = submitted.run_id
        await cluster.wait_held("compile")
        await cluster.wait_for_event(run_id, "JobStarted", "compile", 1)
        reply = await client.cancel(run_id)
    assert reply.accepted

    state = await cluster.wait_finished(run_id)
    assert worker.canceled("compile"), "CancelJob did not reach the executor"
    assert state.status is RunStatus.CANCELED
    compile_job = state.jobs["compile"]
    assert (compile_job.status, compile_job.failure_reason) == (
        JobStatus.CANCELED,
        FailureReason.CANCELED,
    )
    assert {state.jobs[j].status for j in ("unit", "lint")} == {JobStatus.CANCELED}
    assert [s.status for s in state.stages.values()] == [StageStatus.CANCELED] * 2
    assert await cluster.history(run_id, without=PROGRESS) == [
        Entry("RunCreated", "", 0),
        Entry("StageStarted", "build", 0),
        Entry("JobQueued", "compile", 1),
        Entry("JobAssigned", "compile", 1),
        Entry("CancelRequested", "", 0),
        Entry("JobFinished", "unit", 0),  # never queued: canceled where they stand
        Entry("JobFinished", "lint", 0),
        Entry("JobFinished", "compile", 1),  # the worker's report: CANCELED
        Entry("StageFinished", "build", 0),
        Entry("StageFinished", "test", 0),
        Entry("RunFinished", "", 0),
    ]


async def test_cancel_of_a_queued_job_ends_it_at_once(cluster: Cluster) -> None:
    worker = await cluster.add_worker("w1", capacity=1)
    run_id = await cluster.submit(TWO_STAGES)
    await cluster.release("compile")
    await cluster.wait_held("unit")
    await cluster.wait_for_event(run_id, "JobStarted", "unit", 1)
    state = await cluster.state(run_id)
    assert state.jobs["lint"].status is JobStatus.QUEUED  # no free slot

    decision = await cluster.orchestrator.cancel(run_id, "lint", reason="not needed")
    assert (decision.accepted, decision.message) == (
        True,
        "cancel requested for job lint of scenario #1",
    )
    # Nothing to stop on a worker: the job ends with the request.
    state = await cluster.state(run_id)
    assert state.jobs["lint"].status is JobStatus.CANCELED
    assert (await cluster.history(run_id))[-2:] == [
        Entry("CancelRequested", "lint", 0),
        Entry("JobFinished", "lint", 1),
    ]
    assert state.jobs["unit"].status is JobStatus.RUNNING
    assert not worker.canceled("unit")
    await cluster.release("unit")
    state = await cluster.wait_finished(run_id)

    assert state.jobs["unit"].status is JobStatus.SUCCESS
    assert "lint" not in worker.executor.runs
    assert state.stages["test"].status is StageStatus.CANCELED
    assert state.status is RunStatus.CANCELED


async def test_a_cancel_lost_with_a_broken_stream_is_sent_again(cluster: Cluster) -> None:
    worker = await cluster.add_worker("w1")
    run_id = await cluster.submit(TWO_STAGES)
    await cluster.wait_for_event(run_id, "JobStarted", "compile", 1)
    await cluster.wait_held("compile")

    # The CancelJob goes out on a stream that breaks before the worker reads it.
    worker.link.hold_replies()
    await cluster.orchestrator.cancel(run_id)
    session = cluster.session_of(worker)
    assert session is not None
    await cluster.wait_until(session.outbox.empty, what="the CancelJob to be sent")
    worker.link.cut()
    state = await cluster.wait_finished(run_id)

    assert worker.canceled("compile")
    assert state.status is RunStatus.CANCELED
    assert state.jobs["compile"].message == "job canceled"  # the worker's word, no back-stop


TWO_JOBS = """
pipeline:
  name: scenario
stages: [test]
default:
  image: busybox
jobs:
  - name: a
    stage: test
    script: [trap '' TERM; sleep 1000]
  - name: b
    stage: test
    script: [make b]
"""


async def test_a_canceled_job_runs_out_its_grace_before_its_slot_is_free(
    make_cluster: ClusterFactory,
) -> None:
    # The worker gets 90 s between SIGTERM and SIGKILL, longer than the scheduler's
    # back-stop of 60 s; the lease is longer than the test (the worker stays alive).
    settings = Settings(heartbeat_interval=0.2, cancel_grace=90, lease_ttl=3600)
    cluster = await make_cluster(settings=settings, hold=False)
    killed = asyncio.Event()  # a traps SIGTERM: it ends when SIGKILL comes
    stubborn = FakeJob(steps=[FakeStep(gate=asyncio.Event())], stop_gate=killed)
    worker = await cluster.add_worker("w1", capacity=1, jobs={"a": stubborn})
    run_id = await cluster.submit(TWO_JOBS)
    await cluster.wait_for_event(run_id, "JobStarted", "a", 1)
    await cluster.orchestrator.cancel(run_id, "a")
    await cluster.wait_until(lambda: worker.canceled("a"), what="a to get SIGTERM")
    assert worker.executor.runs["a"].grace_seconds == 90

    # 100 s on: past the back-stop of a 10 s grace, within that of the 90 s one.
    await cluster.advance(100)
    state = await cluster.state(run_id)
    assert state.jobs["a"].status is JobStatus.RUNNING
    assert state.jobs["b"].status is JobStatus.QUEUED  # the worker's only slot is a's
    session = cluster.session_of(worker)
    assert session is not None and session.attempts == {AttemptKey(run_id, "a", 1)}

    killed.set()  # SIGKILL, at the end of the grace
    state = await cluster.wait_finished(run_id)
    a = state.jobs["a"]
    assert (a.status, a.message) == (JobStatus.CANCELED, "job canceled")  # the worker's word
    assert state.jobs["b"].status is JobStatus.SUCCESS
    assert await cluster.history(run_id, without=PROGRESS) == [
        Entry("RunCreated", "", 0),
        Entry("StageStarted", "test", 0),
        Entry("JobQueued", "a", 1),
        Entry("JobQueued", "b", 1),
        Entry("JobAssigned", "a", 1),
        Entry("CancelRequested", "a", 0),
        Entry("JobFinished", "a", 1),
        Entry("JobAssigned", "b", 1),
        Entry("JobFinished", "b", 1),
        Entry("StageFinished", "test", 0),
        Entry("RunFinished", "", 0),
    ]
    assert await cluster.rejected(worker.worker_id) == []


# --- timeouts ---------------------------------------------------------------------------

ONE_SECOND = """
pipeline:
  name: scenario
stages: [test]
default:
  image: busybox
jobs:
  - name: slow
    stage: test
    timeout: 1s
    script: [sleep forever]
"""


async def test_a_job_over_its_timeout_is_stopped_by_its_worker(
    make_cluster: ClusterFactory,
) -> None:
    # The worker times the job out by its own clock; the times the run shows are when
    # the orchestrator heard of it, by the system clock here.
    cluster = await make_cluster(clock=SYSTEM_CLOCK)
    await cluster.add_worker("w1")
    run_id = await cluster.submit(ONE_SECOND)  # held, and never released
    state = await cluster.wait_finished(run_id)

    job = state.jobs["slow"]
    assert state.status is RunStatus.FAILED
    assert (job.status, job.failure_reason) == (JobStatus.FAILED, FailureReason.TIMEOUT)
    assert job.message == "job exceeded its timeout of 1s"
    assert job.started_at is not None and job.finished_at is not None
    # Both times are when the orchestrator heard of it: allow for the messages' trip.
    assert job.finished_at - job.started_at >= timedelta(seconds=0.9)


async def test_the_orchestrator_fails_a_job_whose_worker_never_reports(
    make_cluster: ClusterFactory,
) -> None:
    # A lease longer than the wait: the worker is cut off, but not yet lost.
    settings = Settings(heartbeat_interval=0.2, lease_ttl=3600)
    cluster = await make_cluster(settings=settings)
    worker = await cluster.add_worker("w1")
    run_id = await cluster.submit(ONE_SECOND)
    await cluster.wait_for_event(run_id, "JobStarted", "slow", 1)
    worker.link.block()
    await cluster.advance(1 + settings.timeout_grace - 0.001)
    assert (await cluster.state(run_id)).jobs["slow"].status is JobStatus.RUNNING
    await cluster.advance(0.001)
    state = await cluster.wait_finished(run_id)

    job = state.jobs["slow"]
    assert (job.status, job.failure_reason) == (JobStatus.FAILED, FailureReason.TIMEOUT)
    assert job.message == "no result 1s after it started (timeout)"
    # When the worker is back, its own late verdict is refused.
    await cluster.wait_until(lambda: worker.executor.runs["slow"].result, what="worker timeout")
    worker.link.unblock()
    refused = await cluster.wait_rejected(worker.worker_id, "job_finished")
    assert refused[-1] == ("job_finished", "slow", 1, "the job is FAILED")
    assert (await cluster.history(run_id))[-4:] == [
        Entry("JobStarted", "slow", 1),
        Entry("JobFinished", "slow", 1),
        Entry("StageFinished", "test", 0),
        Entry("RunFinished", "", 0),
    ]


async def test_timeout_back_stop_counts_from_the_start_plus_grace(tmp_path: Path) -> None:
    clock = FakeClock()
    grace = SETTINGS.timeout_grace
    async with await EventStore.open(tmp_path / "events.db") as store:
        runs = RunBook(store, SETTINGS, clock)
        state = await runs.create(
            load_pipeline_text(ONE_SECOND, "test.yml"),
            repo="",
            branch="",
            commit="",
            source_blob="",
        )
        run_id = state.run_id
        assert state.jobs["slow"].status is JobStatus.QUEUED
        await runs.record(run_id, [JobAssigned(job="slow", attempt=1, worker_id="w")])
        clock.advance(30)  # the container started late (image pull)
        await runs.record(run_id, [JobStarted(job="slow", attempt=1)])
        started = clock.now()

        clock.advance(1 + grace - 0.001)
        await runs.tick()
        assert (await runs.get(run_id)).jobs["slow"].status is JobStatus.RUNNING
        clock.advance(0.001)
        await runs.tick()
        state = await runs.get(run_id)

    job = state.jobs["slow"]
    assert (job.status, job.failure_reason) == (JobStatus.FAILED, FailureReason.TIMEOUT)
    assert job.finished_at == clock.now() == started + timedelta(seconds=1 + grace)
    assert state.status is RunStatus.FAILED


LATER_MANUAL = """
build:
  stage: build
  image: busybox
  script: [echo built]
deploy:
  stage: deploy
  image: busybox
  when: manual
  script: [echo deployed]
"""


async def test_a_run_opened_again_by_a_play_is_live_in_every_book(tmp_path: Path) -> None:
    async with await EventStore.open(tmp_path / "events.db") as store:
        runs, other = RunBook(store, SETTINGS), RunBook(store, SETTINGS)
        pipeline = load_pipeline_text(LATER_MANUAL, ".gitlab-ci.yml")
        state = await runs.create(pipeline, repo="", branch="", commit="", source_blob="")
        run_id = state.run_id
        await runs.record(run_id, [JobAssigned(job="build", attempt=1, worker_id="w")])
        await runs.record(run_id, [JobFinished(job="build", attempt=1, status="SUCCESS")])
        assert (await runs.get(run_id)).status is RunStatus.SUCCESS
        assert runs.active() == [] and await other.load() == []
        seen = (await store.read_stream(run_stream(run_id)))[-1].seq

        def play(current: RunState) -> list[Event]:
            return list(decide_play(current, "deploy").events)

        state = await runs.record_if(run_id, play)
        assert (state.status, state.jobs["deploy"].status) == (RunStatus.RUNNING, JobStatus.QUEUED)
        assert [s.run_id for s in runs.active()] == [run_id]
        await other.observe(await store.read_all(since_seq=seen))
        assert [s.run_id for s in other.active()] == [run_id]
        assert [r.run_id for r in await store.live_runs()] == [run_id]


async def test_a_submission_with_its_own_run_id_sent_twice_makes_one_run(tmp_path: Path) -> None:
    async with await EventStore.open(tmp_path / "events.db") as store:
        runs = RunBook(store, SETTINGS, FakeClock())
        pipeline = load_pipeline_text(ONE_SECOND, "test.yml")

        async def create(commit: str) -> RunState:
            return await runs.create(
                pipeline, repo="r", branch="b", commit=commit, source_blob="", run_id="00aa11bb22cc"
            )

        first = await create("c1")
        again = await create("c1")
        assert (again.run_id, again.number, again.version) == ("00aa11bb22cc", 1, first.version)
        with pytest.raises(XxciError, match=r"^run id '00aa11bb22cc' is taken by another run$"):
            await create("c2")
        assert [r.run_id for r in await store.find_runs()] == ["00aa11bb22cc"]
