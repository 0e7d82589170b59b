"""The secret store and the job cache index, on their SQLite files in a data directory
(their only backend so far: each orchestrator keeps its own)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.fakes.clock import FakeClock
from xxci.orchestrator.runtime.job_caches import JobCaches
from xxci.orchestrator.store import BlobStore
from xxci.orchestrator.store.cache_index import CacheIndex
from xxci.orchestrator.store.secret_store import SecretStore


async def test_a_pipelines_own_secret_wins_and_values_come_back_only_by_name(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    store = await SecretStore.open(tmp_path / "secrets.db")
    async with store:
        await store.put("TOKEN", b"every-pipeline", "", clock.now())
        await store.put("TOKEN", b"only-deploy", "deploy", clock.now())
        await store.put("OTHER", b"x" * 9, "", clock.now())
        assert await store.values("deploy", ["TOKEN", "MISSING"]) == {"TOKEN": b"only-deploy"}
        assert await store.values("build", ["TOKEN", "OTHER"]) == {
            "TOKEN": b"every-pipeline",
            "OTHER": b"x" * 9,
        }
        assert await store.known("build", ["TOKEN", "NOPE"]) == {"TOKEN"}
        assert [(i.name, i.pipeline, i.size) for i in await store.infos()] == [
            ("OTHER", "", 9),
            ("TOKEN", "", 14),
            ("TOKEN", "deploy", 11),
        ]
        assert await store.remove("TOKEN", "deploy")
        assert not await store.remove("TOKEN", "deploy")
        assert await store.values("deploy", ["TOKEN"]) == {"TOKEN": b"every-pipeline"}


async def test_sqlite_secrets_live_in_a_file_only_its_owner_reads(tmp_path: Path) -> None:
    async with await SecretStore.open(tmp_path / "secrets.db") as store:
        await store.put("TOKEN", b"value", "", FakeClock().now())
        assert await store.values("", ["TOKEN"]) == {"TOKEN": b"value"}
    assert stat.S_IMODE(os.stat(tmp_path / "secrets.db").st_mode) == 0o600
    assert os.listdir(tmp_path) == ["secrets.db"]  # no journal left beside it


async def test_the_newest_save_wins_and_a_lookup_takes_the_first_key_found(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    index = await CacheIndex.open(tmp_path / "caches.db")
    async with index:
        await index.save("app", "deps-main", "sha256:a", 10, clock.now())
        clock.advance(1)
        await index.save("app", "deps-main", "sha256:b", 20, clock.now())
        await index.save("other", "deps-x", "sha256:c", 5, clock.now())
        assert await index.lookup("app", ["deps-x", "deps-main"], clock.now()) is not None
        hit = await index.lookup("app", ["deps-feature", "deps-main"], clock.now())
        assert hit is not None and (hit.key, hit.digest, hit.size) == ("deps-main", "sha256:b", 20)
        assert await index.lookup("app", ["deps-x"], clock.now()) is None  # not this scope
        assert [e.key for e in await index.entries()] == ["deps-main", "deps-x"]


async def test_saving_past_the_cap_evicts_the_least_recently_used(tmp_path: Path) -> None:
    clock = FakeClock()
    blobs = BlobStore(tmp_path / "cache-blobs")
    caches = JobCaches(await CacheIndex.open(tmp_path / "caches.db"), blobs, 250, clock)
    try:
        refs = [await blobs.put_bytes(bytes([n]) * 100) for n in range(3)]
        await caches.save("app", "one", refs[0].digest)
        clock.advance(1)
        await caches.save("app", "two", refs[1].digest)
        clock.advance(1)
        assert await caches.lookup("app", ["one"]) is not None  # "one" is used again
        clock.advance(1)
        await caches.save("app", "three", refs[2].digest)
        assert sorted(e.key for e in await caches.entries()) == ["one", "three"]
        assert not blobs.exists(refs[1].digest)  # its archive went with it
        await caches.save("app", "one", refs[2].digest)  # replaced: the old archive goes
        assert not blobs.exists(refs[0].digest)
        assert blobs.exists(refs[2].digest)  # still named by "three" and "one"
        removed = await caches.remove("app")
        assert sorted(e.key for e in removed) == ["one", "three"]
        assert not blobs.exists(refs[2].digest)
    finally:
        await caches.close()
