"""Restoring an attempt's caches before it runs and saving them after, as GitLab's
runner does: a cache that cannot be restored or saved is a warning in the job log,
never a failure of the job."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import shutil
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from xxci.common.errors import XxciError
from xxci.common.spec.services_cache import CachePolicy
from xxci.worker.attempt.cache_keys import cache_keys
from xxci.worker.attempt.cache_store import CacheIndex, LocalCopies
from xxci.worker.executor import Assignment

__all__ = ["CacheSteps"]

log = logging.getLogger("xxci.worker")

T = TypeVar("T")
Retrying = Callable[[Callable[[], Awaitable[T]], float], Awaitable[T]]


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"


class CacheSteps:
    """The caches of one attempt. ``say`` writes a line to the job log (system)."""

    def __init__(
        self,
        assignment: Assignment,
        index: CacheIndex | None,
        copies: LocalCopies | None,
        directory: Path,
        say: Callable[[str], Awaitable[None]],
        retry_seconds: float = 60.0,
    ) -> None:
        self._job = assignment
        self._index = index
        self._copies = copies
        self._dir = directory
        self._say = say
        self._retry_seconds = retry_seconds
        self.keys: list[str] = []

    async def restore(self, workspace_archives: Sequence[Path]) -> tuple[Path, ...]:
        """Resolve every cache's key; the archives of those found, in cache order."""
        env = self._job.environment
        restored: list[Path] = []
        for number, cache in enumerate(self._job.caches):
            keys = await asyncio.to_thread(cache_keys, cache, env, workspace_archives)
            self.keys.append(keys[0])
            if cache.policy is CachePolicy.PUSH or self._index is None:
                continue
            try:
                path = await self._restore_one(number, keys)
            except (XxciError, OSError) as err:
                await self._say(f"cache: could not restore key {keys[0]!r}: {err}")
                continue
            if path is not None:
                restored.append(path)
        return tuple(restored)

    async def _restore_one(self, number: int, keys: tuple[str, ...]) -> Path | None:
        assert self._index is not None
        hit = await self._index.lookup(self._job.cache_scope, keys)
        if hit is None:
            await self._say(f"cache: no entry for key {keys[0]!r}")
            return None
        dest = self._dir / f"cache-{number}.tar"
        local = self._copies.get(hit.digest) if self._copies is not None else None
        source = "this worker's copy"
        if local is not None:
            await asyncio.to_thread(_link_or_copy, local, dest)
        else:
            source = "the orchestrator"
            await self._index.download(hit.digest, dest)
            if self._copies is not None:
                await asyncio.to_thread(self._copies.put, hit.digest, dest)
        fallback = "" if hit.key == keys[0] else f" (fallback for {keys[0]!r})"
        await self._say(
            f"cache: restored key {hit.key!r}{fallback}, {_size(hit.size)} from {source}"
        )
        return dest

    async def save(self, archives: dict[int, Path]) -> None:
        """Upload each archive and make it its cache key's entry; consumes them."""
        for number, archive in sorted(archives.items()):
            key = self.keys[number] if number < len(self.keys) else "default"
            try:
                if self._index is None:
                    continue
                size = archive.stat().st_size
                digest = await self._index.upload(archive)
                await self._index.save(self._job.cache_scope, key, digest)
                if self._copies is not None:
                    await asyncio.to_thread(
                        functools.partial(self._copies.put, digest, archive, move=True)
                    )
                await self._say(f"cache: saved key {key!r}, {_size(size)}")
            except (XxciError, OSError) as err:
                log.warning("%s: could not save cache %r: %s", self._job.key, key, err)
                await self._say(f"cache: could not save key {key!r}: {err}")
            finally:
                await asyncio.to_thread(archive.unlink, missing_ok=True)


def _link_or_copy(source: Path, dest: Path) -> None:
    dest.unlink(missing_ok=True)
    try:
        os.link(source, dest)
    except OSError:
        shutil.copyfile(source, dest)
