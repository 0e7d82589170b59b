"""Job caches: the index of entries and the store of their archives, kept in step.

A save makes an uploaded archive its key's entry, then evicts the least recently used
entries while the archives take more than ``max_bytes``; an archive no entry names
any more is deleted from the cache blob store (never from the runs' blobs).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from xxci.common.clock import Clock
from xxci.common.errors import NotFoundError
from xxci.orchestrator.store import BlobStore, CacheStorage
from xxci.orchestrator.store.cache_index import CacheEntry

__all__ = ["JobCaches"]

log = logging.getLogger("xxci.orchestrator")


class JobCaches:
    """See the module docstring; ``blobs`` is the cache archives' own store (files: it
    removes archives, which the run blobs' port does not)."""

    def __init__(self, index: CacheStorage, blobs: BlobStore, max_bytes: int, clock: Clock) -> None:
        self.index = index
        self.blobs = blobs
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        await self.index.close()

    async def lookup(self, scope: str, keys: Sequence[str]) -> CacheEntry | None:
        entry = await self.index.lookup(scope, keys, self._clock.now())
        if entry is not None and not self.blobs.exists(entry.digest):
            log.warning("cache %s/%s names a missing archive; dropped", scope, entry.key)
            await self._forget(await self.index.remove(scope, entry.key))
            return None
        return entry

    async def save(self, scope: str, key: str, digest: str) -> CacheEntry:
        """Raises NotFoundError if ``digest`` was not uploaded to the cache store."""
        if not self.blobs.exists(digest):
            raise NotFoundError(f"no cache archive {digest} was uploaded")
        async with self._lock:
            replaced = [e for e in await self.index.entries(scope) if e.key == key]
            entry = await self.index.save(
                scope, key, digest, self.blobs.size(digest), self._clock.now()
            )
            evicted = await self.index.evict(self.max_bytes)
            await self._forget([*replaced, *evicted])
        for gone in evicted:
            log.info("cache %s/%s evicted (%d bytes)", gone.scope, gone.key, gone.size)
        return entry

    async def entries(self, scope: str = "") -> list[CacheEntry]:
        return await self.index.entries(scope)

    async def remove(self, scope: str = "", key: str = "") -> list[CacheEntry]:
        async with self._lock:
            removed = await self.index.remove(scope, key)
            await self._forget(removed)
        return removed

    async def _forget(self, entries: Sequence[CacheEntry]) -> None:
        for digest in await self.index.unreferenced([e.digest for e in entries]):
            await self.blobs.remove(digest)
