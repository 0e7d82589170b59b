"""Worker identities on a shared PostgreSQL store: two `xxci server` processes, a worker
in this process (the fake executor: no Docker). A worker registered through one server
is known to the other, and a revocation through one cuts it off the other at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import TOKEN
from tests.e2e.shared_cluster import SharedCluster
from tests.fakes.executor import FakeExecutor
from xxci.cli.client.remote import GrpcClient
from xxci.common.api import RegisteredWorker
from xxci.common.errors import AuthError
from xxci.worker.connection.agent import WorkerAgent


@pytest.fixture
def shared(tmp_path: Path, postgres_url: str) -> Iterator[SharedCluster]:
    c = SharedCluster(tmp=tmp_path, url=postgres_url)
    try:
        c.start_servers(2)
        yield c
    finally:
        c.stop()


async def listed(address: str) -> dict[str, RegisteredWorker]:
    async with GrpcClient(address, TOKEN) as client:
        return {w.name: w for w in await client.workers()}


async def wait_listed(address: str, name: str, connected: bool, within: float = 20) -> None:
    """Until ``xxci worker ls`` on ``address`` shows ``name`` (dis)connected."""
    deadline = time.monotonic() + within
    while (found := (await listed(address)).get(name)) is None or found.connected != connected:
        assert time.monotonic() < deadline, f"{name} never {connected=} on {address}: {found}"
        await asyncio.sleep(0.1)


@pytest.mark.timeout(120)
async def test_a_worker_revoked_through_one_server_is_cut_off_the_other(
    shared: SharedCluster, tmp_path: Path
) -> None:
    # The worker knows server 1 first, then server 0.
    agent = WorkerAgent(
        shared.addresses(1),
        TOKEN,
        "wa",
        1,
        [],
        FakeExecutor(),
        tmp_path / "wa",
        backoff_initial=0.2,
        backoff_max=1.0,
    )
    serving = asyncio.create_task(agent.run())
    try:
        # Registered and connected through server 1; server 0 lists it, connected.
        await wait_listed(shared.address(1), "wa", connected=True)
        await wait_listed(shared.address(0), "wa", connected=True)
        worker_id = agent.worker_id

        async with GrpcClient(shared.address(0), TOKEN) as client:
            outcome = await client.revoke_worker(worker_id)
        assert outcome.accepted, outcome.message

        # Server 1 closes its stream, and neither server lets it back.
        with pytest.raises(AuthError) as refused:
            await asyncio.wait_for(asyncio.shield(serving), 30)
    finally:
        await agent.stop(drain=False)
        await asyncio.gather(serving, return_exceptions=True)
    assert str(refused.value).endswith(
        f"refused this worker: worker {worker_id} was revoked:"
        " register it again (xxci worker --register)"
    )
    for index in (0, 1):
        await wait_listed(shared.address(index), "wa", connected=False)
        assert (await listed(shared.address(index)))["wa"].revoked_at is not None
