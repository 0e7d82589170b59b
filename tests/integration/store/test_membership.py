"""The membership contract (every backend): heartbeats, leaving, workers' homes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from xxci.orchestrator.store.membership import Member, SqliteMembership
from xxci.orchestrator.store.ports import Membership
from xxci.orchestrator.store.postgres import PgMembership

from .conftest import Backend


@pytest.fixture
async def members(backend: Backend) -> AsyncIterator[Membership]:
    opened: Membership
    if backend.url:
        opened = await PgMembership.open(backend.url)
    else:
        opened = await SqliteMembership.open(backend.root / "xxci.db")
    try:
        yield opened
    finally:
        await opened.close()


async def test_members_are_those_with_a_recent_heartbeat(members: Membership) -> None:
    await members.beat("b", "10.0.0.2:7420", 100.0)
    await members.beat("a", "10.0.0.1:7420", 100.0)
    await members.beat("a", "10.0.0.1:7421", 130.0)  # beats again, moved port
    assert await members.members(alive_since=90.0) == [
        Member("a", "10.0.0.1:7421", 100.0, 130.0),
        Member("b", "10.0.0.2:7420", 100.0, 100.0),
    ]
    assert [m.id for m in await members.members(alive_since=120.0)] == ["a"]


async def test_homes_newest_wins_and_leaving_clears_them(members: Membership) -> None:
    await members.beat("a", "x", 1.0)
    await members.beat("b", "y", 1.0)
    await members.set_home("w1", "a", 1.0)
    await members.set_home("w2", "a", 1.0)
    await members.set_home("w1", "b", 2.0)  # w1 reconnected to b
    await members.clear_home("w1", "a")  # a noticing late does not undo it
    assert await members.homes() == {"w1": "b", "w2": "a"}

    await members.leave("a")
    assert await members.homes() == {"w1": "b"}
    assert [m.id for m in await members.members(alive_since=0.0)] == ["b"]
    await members.clear_home("w1", "b")
    assert await members.homes() == {}
