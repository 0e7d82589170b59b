"""Two `xxci server` processes on one PostgreSQL store serving at once, workers in this
process (the fake executor: no Docker) given both addresses; one server SIGKILLed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import TOKEN
from tests.e2e.shared_cluster import SharedCluster, check_jobs_ran_once
from tests.fakes.executor import FakeExecutor, FakeJob, FakeStep
from xxci.cli.client.remote import GrpcClient
from xxci.common.api import Submission
from xxci.common.events import (
    JobStarted,
    RecordedEvent,
    RunCreated,
    RunFinished,
)
from xxci.worker.connection.agent import WorkerAgent

PIPELINE = """
pipeline: {name: pair}
stages: [first, second]
jobs:
  - {name: one, stage: first, image: i, script: [x]}
  - {name: two, stage: second, image: i, script: [x]}
"""


def slow(_assignment: object) -> FakeJob:
    return FakeJob(steps=[FakeStep([("stdout", b"working\n")], seconds=1.0)])


@contextlib.asynccontextmanager
async def workers(
    shared: SharedCluster, tmp: Path, names: dict[str, int]
) -> AsyncIterator[dict[str, WorkerAgent]]:
    agents = {
        name: WorkerAgent(
            shared.addresses(first),
            TOKEN,
            name,
            2,
            [],
            FakeExecutor(default=slow),
            tmp / name,
            backoff_initial=0.2,
            backoff_max=1.0,
        )
        for name, first in names.items()
    }
    tasks = [asyncio.create_task(agent.run()) for agent in agents.values()]
    try:
        yield agents
    finally:
        for agent in agents.values():
            await agent.stop(drain=False)
        await asyncio.gather(*tasks, return_exceptions=True)


async def connected(address: str) -> set[str]:
    async with GrpcClient(address, TOKEN) as client:
        return {w["name"] for w in (await client.status())["workers"]}


async def wait_connected(address: str, names: set[str], within: float) -> float:
    started = time.monotonic()
    while not names <= await connected(address):
        assert time.monotonic() - started < within, f"{names} not on {address}"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def all_events(address: str, run_id: str = "") -> list[RecordedEvent]:
    async with GrpcClient(address, TOKEN) as client:
        return [r async for r in client.events(run_id)]


@pytest.fixture
def shared(tmp_path: Path, postgres_url: str) -> Iterator[SharedCluster]:
    c = SharedCluster(tmp=tmp_path, url=postgres_url)
    try:
        c.start_servers(2)
        yield c
    finally:
        c.stop()


@pytest.mark.timeout(180)
async def test_two_servers_serve_at_once_and_survive_one_killed(
    shared: SharedCluster, tmp_path: Path
) -> None:
    async with workers(shared, tmp_path, {"wa": 0, "wb": 1}):
        await wait_connected(shared.address(0), {"wa"}, 20)
        await wait_connected(shared.address(1), {"wb"}, 20)
        run_ids = []
        for i in range(10):  # alternately to each server
            async with GrpcClient(shared.addresses(i % 2), TOKEN) as client:
                run_ids.append((await client.submit(Submission("pair.yml", PIPELINE))).run_id)

        # A run submitted to server 0 is followed live through server 1.
        async with GrpcClient(shared.address(1), TOKEN) as client:
            first = [r async for r in _until_started(client, run_ids[0])]
        assert isinstance(first[0].event, RunCreated)

        # Followed through server 0, which is about to die: resumed on server 1.
        follower = asyncio.create_task(follow_all(shared.addresses(0), len(run_ids)))

        deadline = time.monotonic() + 60
        while sum(isinstance(r.event, JobStarted) for r in await all_events(shared.address(1))) < 3:
            assert time.monotonic() < deadline, shared.logs()
            await asyncio.sleep(0.1)
        shared.kill_server(0)
        failover = await wait_connected(shared.address(1), {"wa", "wb"}, 20)
        assert failover < 10

        async with GrpcClient(shared.addresses(0), TOKEN) as client:  # 0 is down: 1 answers
            for run_id in run_ids:
                try:
                    async with asyncio.timeout(60):
                        last = [r async for r in client.watch(run_id)][-1]
                except TimeoutError:
                    events = await all_events(shared.address(1), run_id)
                    raise AssertionError(
                        "\n".join(f"{r.seq} {r.event}" for r in events) + shared.logs()
                    ) from None
                assert isinstance(last.event, RunFinished), last
                assert last.event.status == "SUCCESS", shared.logs()
            verify = await client.verify()
        assert verify.problems == [], verify.problems
        followed = await asyncio.wait_for(follower, 30)
        assert [r.seq for r in followed] == list(range(1, followed[-1].seq + 1))

    numbers = set()
    for run_id in run_ids:
        events = await all_events(shared.address(1), run_id)
        numbers.add(next(r.event.number for r in events if isinstance(r.event, RunCreated)))
        check_jobs_ran_once(events, ("one", "two"))
    assert numbers == set(range(1, 11))


async def follow_all(addresses: str, runs: int) -> list[RecordedEvent]:
    """``events --follow`` from the start until ``runs`` runs have finished."""
    seen: list[RecordedEvent] = []
    async with GrpcClient(addresses, TOKEN) as client:
        async for rec in client.events(follow=True):
            seen.append(rec)
            if sum(isinstance(r.event, RunFinished) for r in seen) == runs:
                return seen
    raise AssertionError("the followed events ended early")


async def _until_started(client: GrpcClient, run_id: str) -> AsyncIterator[RecordedEvent]:
    async for rec in client.watch(run_id):
        yield rec
        if isinstance(rec.event, JobStarted):
            return
