"""The survivors' side of an orchestrator's death, on a fake clock: an attempt whose
worker's orchestrator stopped beating is adopted by the run's owner and, if the worker
never comes back, lost and queued again; one whose worker came home elsewhere is left
to that orchestrator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.clock import FakeClock
from xxci.common.attempts import AttemptKey
from xxci.common.events import JobAssigned, JobAttemptLost, run_stream
from xxci.common.spec import load_pipeline_text
from xxci.common.status import JobStatus
from xxci.orchestrator.domain.dispatch import resource_key
from xxci.orchestrator.domain.messages import Hello
from xxci.orchestrator.domain.settings import Settings
from xxci.orchestrator.runtime.orchestrator import Orchestrator

SETTINGS = Settings(lease_ttl=30.0, member_ttl=10.0, tick=1.0)
PIPELINE = "pipeline: {name: p}\njobs: [{name: j, stage: build, image: i, script: [x]}]\n"


@pytest.fixture
async def survivor(tmp_path: Path, postgres_url: str) -> AsyncIterator[Orchestrator]:
    o = Orchestrator(tmp_path, settings=SETTINGS, clock=FakeClock(), store=postgres_url)
    await o.start()
    try:
        yield o
    finally:
        await o.stop()


async def assigned_run(o: Orchestrator, worker_id: str) -> str:
    """A run whose job was assigned (by another orchestrator) to ``worker_id``."""
    state = await o.submit(load_pipeline_text(PIPELINE, "p.yml"))
    assert state.jobs["j"].status is JobStatus.QUEUED
    await o.runs.record(state.run_id, [JobAssigned("j", 1, worker_id, "far", 30.0)])
    return state.run_id


async def tick(o: Orchestrator, clock: FakeClock, seconds: float) -> None:
    clock.advance(seconds)
    await o.step()


async def test_an_attempt_of_a_dead_orchestrators_worker_is_adopted_then_lost(
    survivor: Orchestrator,
) -> None:
    clock = survivor.clock
    assert isinstance(clock, FakeClock)
    assert survivor.cluster is not None
    members = survivor.members
    now = clock.now().timestamp()
    await members.beat("dead", "10.0.0.9:7420", now)
    await members.set_home("w-far", "dead", now)
    run_id = await assigned_run(survivor, "w-far")

    await tick(survivor, clock, 1.0)  # "dead" still counts: its worker's lease is its own
    assert survivor.hub.owner_of(_key(run_id)) is None

    await tick(survivor, clock, SETTINGS.member_ttl)  # no heartbeat for too long
    assert survivor.cluster.alive == [survivor.id]
    assert survivor.hub.owner_of(_key(run_id)) == "w-far"  # adopted, with a fresh lease

    await tick(survivor, clock, SETTINGS.lease_ttl)  # the worker never came back
    events = [r.event for r in await survivor.store.read_stream(run_stream(run_id))]
    assert JobAttemptLost("j", 1, "worker w-far lost with its orchestrator") in events
    assert (await survivor.runs.get(run_id)).jobs["j"].status is JobStatus.QUEUED


async def test_an_attempt_whose_worker_came_home_elsewhere_is_left_alone(
    survivor: Orchestrator,
) -> None:
    clock = survivor.clock
    assert isinstance(clock, FakeClock)
    members = survivor.members
    step = SETTINGS.lease_ttl / 2
    # "other" keeps beating while the leases would run out. Each beat is in place
    # before the clock moves: the orchestrator's own loop may look at any moment.
    await members.beat("other", "10.0.0.8:7420", clock.now().timestamp() + step)
    await members.set_home("w-moved", "other", clock.now().timestamp())
    run_id = await assigned_run(survivor, "w-moved")
    for _ in range(5):
        await members.beat("other", "10.0.0.8:7420", clock.now().timestamp() + step)
        clock.advance(step)
        await survivor.step()
        assert survivor.hub.owner_of(_key(run_id)) is None
    events = [r.event for r in await survivor.store.read_stream(run_stream(run_id))]
    assert not any(isinstance(e, JobAttemptLost) for e in events)


def _key(run_id: str) -> AttemptKey:
    return AttemptKey(run_id, "j", 1)


async def test_an_attempt_its_worker_never_received_is_lost_where_the_worker_is(
    survivor: Orchestrator,
) -> None:
    """Assigned by an orchestrator that died before the assignment reached the worker,
    which then came home here without it: nobody renews it, so it is lost."""
    clock = survivor.clock
    assert isinstance(clock, FakeClock)
    await survivor.members.set_home("w-here", survivor.id, clock.now().timestamp())
    run_id = await assigned_run(survivor, "w-here")
    await tick(survivor, clock, 1.0)
    assert survivor.hub.owner_of(_key(run_id)) == "w-here"
    await tick(survivor, clock, SETTINGS.lease_ttl)
    events = [r.event for r in await survivor.store.read_stream(run_stream(run_id))]
    assert any(isinstance(e, JobAttemptLost) and e.attempt == 1 for e in events)
    assert (await survivor.runs.get(run_id)).jobs["j"].status is JobStatus.QUEUED


async def test_jobs_of_a_resource_group_are_handed_out_by_its_owner_only(
    survivor: Orchestrator,
) -> None:
    """Two orchestrators each seeing a group free could each start one of its jobs (in
    different runs: no version check between them), so only the group's owner does."""
    clock = survivor.clock
    assert isinstance(clock, FakeClock) and survivor.cluster is not None
    await survivor.members.beat("other", "10.0.0.8:7420", clock.now().timestamp())
    await survivor.step()
    assert sorted(survivor.cluster.alive) == sorted([survivor.id, "other"])
    groups = [f"g{i}" for i in range(20)]
    theirs = next(g for g in groups if not survivor.cluster.holds(resource_key("", g)))
    mine = next(g for g in groups if survivor.cluster.holds(resource_key("", g)))
    await survivor.hub.connect("w1", Hello(name="w1", capacity=2), "test")
    text = (
        "pipeline: {{name: {0}}}\njobs: [{{name: j, stage: build, image: i,"
        " script: [x], resource_group: {0}}}]\n"
    )
    held = await survivor.submit(load_pipeline_text(text.format(mine), "m.yml"))
    other = await survivor.submit(load_pipeline_text(text.format(theirs), "t.yml"))
    await survivor.step()
    assert (await survivor.runs.get(held.run_id)).jobs["j"].worker_id == "w1"
    assert (await survivor.runs.get(other.run_id)).jobs["j"].worker_id == ""
