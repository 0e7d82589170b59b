"""The identity store's contract: every backend keeps registered workers the same way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.store.conftest import Backend
from xxci.common.errors import ConflictError
from xxci.orchestrator.store import IdentityRecord, IdentityStorage

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def record(worker_id: str, name: str = "box", at: datetime = T0) -> IdentityRecord:
    return IdentityRecord(worker_id, name, "sha256:" + "ab" * 32, registered_at=at)


async def test_an_identity_is_stored_once_and_read_back(identity_store: IdentityStorage) -> None:
    await identity_store.add(record("w1"))
    with pytest.raises(ConflictError, match="worker id w1 is taken"):
        await identity_store.add(record("w1", name="other"))
    assert await identity_store.get("w1") == record("w1")
    assert await identity_store.get("nobody") is None


async def test_all_identities_come_in_the_order_they_registered(
    identity_store: IdentityStorage,
) -> None:
    await identity_store.add(record("b", at=T0 + timedelta(seconds=1)))
    await identity_store.add(record("a", at=T0 + timedelta(seconds=2)))
    await identity_store.add(record("c", at=T0))
    assert [r.worker_id for r in await identity_store.all()] == ["c", "b", "a"]


async def test_last_seen_only_moves_forward_and_keeps_the_latest_name(
    identity_store: IdentityStorage,
) -> None:
    await identity_store.add(record("w1"))
    later = T0 + timedelta(minutes=5)
    await identity_store.seen("w1", later, name="renamed")
    await identity_store.seen("w1", T0 + timedelta(minutes=1))  # late news: ignored
    await identity_store.seen("nobody", later)  # no such worker: nothing happens
    found = await identity_store.get("w1")
    assert found is not None
    assert (found.name, found.last_seen_at) == ("renamed", later)
    assert await identity_store.get("nobody") is None


async def test_a_revocation_holds_from_its_first_time_for_every_reader(
    backend: Backend, identity_store: IdentityStorage
) -> None:
    await identity_store.add(record("w1"))
    first = T0 + timedelta(hours=1)
    assert await identity_store.revoke("w1", first) is True
    assert await identity_store.revoke("w1", first) is False  # once only, even at one time
    assert await identity_store.revoke("w1", first + timedelta(hours=1)) is False
    assert await identity_store.revoke("nobody", first) is False
    revoked = await identity_store.get("w1")
    assert revoked is not None and revoked.revoked and revoked.revoked_at == first
    # Another reader of the same backend (another process) sees it at once.
    async with await backend.open_identities() as other:
        seen = await other.get("w1")
        assert seen is not None and seen.revoked_at == first
        assert [r.worker_id for r in await other.all()] == ["w1"]


async def test_identities_survive_closing_and_opening_again(backend: Backend) -> None:
    async with await backend.open_identities() as store:
        await store.add(record("w1"))
        await store.seen("w1", T0 + timedelta(seconds=3))
    async with await backend.open_identities() as store:
        found = await store.get("w1")
    assert found is not None and found.last_seen_at == T0 + timedelta(seconds=3)
