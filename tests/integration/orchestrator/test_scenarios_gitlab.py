"""Scenarios of the real orchestrator with GitLab keywords: coverage read from the log,
one job of a resource group at a time across runs."""

from __future__ import annotations

import pytest

from tests.fakes.executor import FakeJob, FakeStep
from tests.integration.orchestrator.harness import Cluster
from xxci.common.status import JobStatus, RunStatus

pytestmark = pytest.mark.timeout(30)

COVERED = """
image: busybox
unit:
  script: [make test]
  coverage: '/TOTAL.*\\s(\\d+(?:\\.\\d+)?)%/'
"""


async def test_coverage_is_read_from_the_job_log(cluster: Cluster) -> None:
    output = b"collected 12 items\nTOTAL    120     9    92.5%\ndone\n"
    await cluster.add_worker("w1", jobs={"unit": FakeJob(steps=[FakeStep([("stdout", output)])])})
    run_id = await cluster.submit(COVERED)
    state = await cluster.wait_finished(run_id)
    assert state.status is RunStatus.SUCCESS
    assert state.jobs["unit"].coverage == "92.5"


GROUPED = """
image: busybox
deploy:
  script: [deploy]
  resource_group: production
"""


async def test_one_job_of_a_resource_group_runs_at_a_time_across_runs(cluster: Cluster) -> None:
    worker = await cluster.add_worker("w1", capacity=2)
    first = await cluster.submit(GROUPED)
    second = await cluster.submit(GROUPED)
    await cluster.wait_for_event(first, "JobStarted", "deploy", 1)
    state = await cluster.state(second)
    # A free slot, but the group is held: the second run's job stays queued.
    assert state.jobs["deploy"].status is JobStatus.QUEUED
    assert worker.holding("deploy") == 1
    worker.release("deploy")
    await cluster.wait_finished(first)
    await cluster.wait_for_event(second, "JobStarted", "deploy", 1)
    worker.release("deploy")
    assert (await cluster.wait_finished(second)).status is RunStatus.SUCCESS
