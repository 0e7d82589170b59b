"""Caches as an attempt sees them: the orchestrator's index of entries, and this
worker's own copies of cache archives.

The orchestrator keeps one entry per (scope, key): the digest of an archive in its
blob store (:class:`CacheIndex`, over gRPC in
:mod:`xxci.worker.connection.cache_client`). A worker keeps the archives it restored
or saved in a directory named by digest (:class:`LocalCopies`), so a warm worker
restores without downloading; the least recently used copies go past a size cap.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = ["DEFAULT_LOCAL_MAX_BYTES", "CacheHit", "CacheIndex", "LocalCopies"]

DEFAULT_LOCAL_MAX_BYTES = 5 * 1024**3


@dataclass(frozen=True)
class CacheHit:
    key: str
    digest: str
    size: int


class CacheIndex(Protocol):
    """The orchestrator's cache entries and their archives (kept apart from the runs'
    blobs). Errors: as :class:`~.blob_store.BlobStore`'s."""

    async def lookup(self, scope: str, keys: tuple[str, ...]) -> CacheHit | None:
        """The entry of the first of ``keys`` that has one in ``scope``."""
        ...

    async def save(self, scope: str, key: str, digest: str) -> None:
        """Make the uploaded archive ``digest`` the entry of ``key`` in ``scope``."""
        ...

    async def download(self, digest: str, dest: Path) -> None:
        """Write archive ``digest`` to ``dest``, verified."""
        ...

    async def upload(self, path: Path) -> str:
        """Store the archive at ``path``; its digest."""
        ...


class LocalCopies:
    """Cache archives kept on this worker, one file per digest, at most ``max_bytes``."""

    def __init__(self, directory: Path, max_bytes: int = DEFAULT_LOCAL_MAX_BYTES) -> None:
        self.directory = directory
        self.max_bytes = max_bytes

    def _path(self, digest: str) -> Path:
        return self.directory / digest.replace(":", "-")

    def get(self, digest: str) -> Path | None:
        """The local copy of ``digest`` (marked as just used), or None."""
        path = self._path(digest)
        try:
            os.utime(path)
        except FileNotFoundError:
            return None
        return path

    def put(self, digest: str, source: Path, *, move: bool = False) -> Path:
        """Keep ``source`` as the copy of ``digest`` (moved, or copied); then trim."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(digest)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        if move:
            shutil.move(source, tmp)
        else:
            shutil.copyfile(source, tmp)
        tmp.replace(path)
        self.trim(keep=path)
        return path

    def trim(self, keep: Path | None = None) -> list[Path]:
        """Remove the least recently used copies while over the cap; the removed."""
        try:
            entries = [(p.stat().st_mtime, p.stat().st_size, p) for p in self.directory.iterdir()]
        except FileNotFoundError:
            return []
        entries = [e for e in entries if not e[2].name.endswith(".tmp")]
        total = sum(size for _, size, _ in entries)
        removed = []
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            path.unlink(missing_ok=True)
            total -= size
            removed.append(path)
        return removed
