"""Scenarios of the real orchestrator handing out held jobs: order, needs, capacity,
labels. Jobs wait at a gate on their worker until the test releases them."""

from __future__ import annotations

import pytest

from tests.integration.orchestrator.harness import Cluster, Entry
from xxci.common.status import JobStatus, RunStatus

pytestmark = pytest.mark.timeout(30)

PROGRESS = ("JobStarted", "StepFinished")
"""Worker progress events: their place between the decisions of parallel jobs depends on
timing, so whole-run histories leave them out (per-job histories keep them)."""


def pipeline(jobs: str, stages: str = "[build, test]") -> str:
    return f"""
pipeline:
  name: scenario
stages: {stages}
default:
  image: busybox
jobs:
{jobs}
"""


TWO_STAGES = pipeline("""
  - name: compile
    stage: build
    script: [make]
  - name: unit
    stage: test
    script: [make unit, make report]
  - name: lint
    stage: test
    script: [make lint]
  - name: package
    stage: test
    needs: [unit]
    script: [make package]
""")


async def test_jobs_finish_in_the_order_released_and_needs_are_kept(cluster: Cluster) -> None:
    worker = await cluster.add_worker("w1", capacity=3)
    run_id = await cluster.submit(TWO_STAGES)

    await cluster.release("compile")
    await cluster.wait_held("unit")
    await cluster.wait_held("lint")
    await cluster.release("lint")
    await cluster.wait_for_event(run_id, "JobFinished", "lint", 1)
    state = await cluster.state(run_id)
    assert state.jobs["package"].status is JobStatus.PENDING, "package ran before its need"
    assert state.jobs["unit"].status is JobStatus.RUNNING
    await cluster.release("unit")
    await cluster.release("package")
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
        Entry("JobFinished", "lint", 1),
        Entry("JobFinished", "unit", 1),
        Entry("JobQueued", "package", 1),
        Entry("JobAssigned", "package", 1),
        Entry("JobFinished", "package", 1),
        Entry("StageFinished", "test", 0),
        Entry("RunFinished", "", 0),
    ]
    assert await cluster.job_history(run_id, "unit") == [
        Entry("JobQueued", "unit", 1),
        Entry("JobAssigned", "unit", 1),
        Entry("JobStarted", "unit", 1),
        Entry("StepFinished", "unit", 1),
        Entry("StepFinished", "unit", 1),
        Entry("JobFinished", "unit", 1),
    ]
    assert dict(state.jobs["unit"].steps) == {0: 0, 1: 0}
    assert {js.worker_id for js in state.jobs.values()} == {worker.worker_id}


PARALLEL = pipeline(
    """
  - name: a
    stage: test
    script: [run a]
  - name: b
    stage: test
    script: [run b]
  - name: c
    stage: test
    script: [run c]
""",
    stages="[test]",
)


async def test_one_slot_runs_parallel_jobs_one_at_a_time(cluster: Cluster) -> None:
    await cluster.add_worker("w1", capacity=1)
    run_id = await cluster.submit(PARALLEL)

    for job, waiting in (("a", "bc"), ("b", "c"), ("c", "")):
        await cluster.wait_held(job)
        state = await cluster.state(run_id)
        running = [j.name for j in state.jobs.values() if j.status is JobStatus.RUNNING]
        queued = [j.name for j in state.jobs.values() if j.status is JobStatus.QUEUED]
        assert (running, queued) == ([job], list(waiting))
        await cluster.release(job)
    state = await cluster.wait_finished(run_id)

    assert state.status is RunStatus.SUCCESS
    assert await cluster.history(run_id, without=PROGRESS) == [
        Entry("RunCreated", "", 0),
        Entry("StageStarted", "test", 0),
        Entry("JobQueued", "a", 1),
        Entry("JobQueued", "b", 1),
        Entry("JobQueued", "c", 1),
        Entry("JobAssigned", "a", 1),
        Entry("JobFinished", "a", 1),
        Entry("JobAssigned", "b", 1),
        Entry("JobFinished", "b", 1),
        Entry("JobAssigned", "c", 1),
        Entry("JobFinished", "c", 1),
        Entry("StageFinished", "test", 0),
        Entry("RunFinished", "", 0),
    ]


async def test_two_single_slot_workers_share_the_queue(cluster: Cluster) -> None:
    w1 = await cluster.add_worker("w1", capacity=1)
    w2 = await cluster.add_worker("w2", capacity=1)
    run_id = await cluster.submit(PARALLEL)

    first = await cluster.wait_held("a")
    second = await cluster.wait_held("b")
    assert {first, second} == {w1, w2}
    assert (await cluster.state(run_id)).jobs["c"].status is JobStatus.QUEUED
    await cluster.release("b")
    # c takes the slot b freed, not the busy worker's.
    assert await cluster.wait_held("c") is second
    await cluster.release("a")
    await cluster.release("c")
    state = await cluster.wait_finished(run_id)

    assert state.status is RunStatus.SUCCESS
    assert [state.jobs[j].worker_id for j in "abc"] == [
        first.worker_id,
        second.worker_id,
        second.worker_id,
    ]


async def test_jobs_spread_over_workers_by_free_capacity(cluster: Cluster) -> None:
    w1 = await cluster.add_worker("w1", capacity=2)
    w2 = await cluster.add_worker("w2", capacity=2)
    run_id = await cluster.submit(
        pipeline(
            """
  - name: a
    stage: test
    script: [run a]
  - name: b
    stage: test
    script: [run b]
""",
            stages="[test]",
        )
    )

    holders = {await cluster.wait_held("a"), await cluster.wait_held("b")}
    # Each worker had two free slots: the second job goes to the emptier one.
    assert holders == {w1, w2}
    await cluster.release("a")
    await cluster.release("b")
    assert (await cluster.wait_finished(run_id)).status is RunStatus.SUCCESS


TAGGED = pipeline(
    """
  - name: plain
    stage: test
    script: [run plain]
  - name: gpu-job
    stage: test
    tags: [gpu]
    script: [run on a gpu]
""",
    stages="[test]",
)


async def test_a_job_waits_for_a_worker_with_its_tags(cluster: Cluster) -> None:
    plain_worker = await cluster.add_worker("cpu", capacity=2, labels=["linux"])
    run_id = await cluster.submit(TAGGED)

    await cluster.release("plain", plain_worker)
    await cluster.wait_for_event(run_id, "JobFinished", "plain", 1)
    state = await cluster.state(run_id)
    # The worker has a free slot, but not the label: the job is not assigned.
    assert state.jobs["gpu-job"].status is JobStatus.QUEUED
    assert state.jobs["gpu-job"].worker_id == ""
    assert plain_worker.holding("gpu-job") == 0

    gpu_worker = await cluster.add_worker("gpu", labels=["gpu", "linux"])
    await cluster.release("gpu-job", gpu_worker)
    state = await cluster.wait_finished(run_id)

    assert state.status is RunStatus.SUCCESS
    assert state.jobs["gpu-job"].worker_id == gpu_worker.worker_id
    assert "gpu-job" not in plain_worker.executor.runs
    assert await cluster.job_history(run_id, "gpu-job") == [
        Entry("JobQueued", "gpu-job", 1),
        Entry("JobAssigned", "gpu-job", 1),
        Entry("JobStarted", "gpu-job", 1),
        Entry("StepFinished", "gpu-job", 1),
        Entry("JobFinished", "gpu-job", 1),
    ]
