"""Files made once per key and shared: a worker's downloads and prepared archives.

A :class:`FileCache` hands out the file for a key, making it (downloading a blob,
converting an archive) only if no other holder made it already; concurrent askers for
the same key wait for the one making it. A file is never deleted while held; of the
idle ones, the ``keep`` used last stay for the next asker and older ones are deleted.
A file that could not be made leaves nothing behind and is tried afresh next time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

__all__ = ["FileCache", "Maker"]

K = TypeVar("K", bound=Hashable)

Maker = Callable[[Path], Awaitable[None]]
"""Writes the file for a key to the path it is given (a fresh, empty file)."""


@dataclass
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    path: Path | None = None
    users: int = 0


class FileCache(Generic[K]):
    """Files in ``directory`` (None: the system temp dir) named by nothing but their key;
    ``suffix`` ends their names."""

    def __init__(self, directory: Path | None = None, keep: int = 8, suffix: str = "") -> None:
        self.directory = directory
        self.keep = keep
        self._suffix = suffix
        self._entries: OrderedDict[K, _Entry] = OrderedDict()

    @contextlib.asynccontextmanager
    async def using(self, wanted: Sequence[tuple[K, Maker]]) -> AsyncIterator[list[Path]]:
        """The file of each ``(key, maker)``, in order, held until the block ends.

        ``maker`` runs only for a key that has no file yet; what it raises comes out
        here (and the files acquired before it are released).
        """
        held: list[tuple[K, _Entry]] = []
        try:
            paths = []
            for key, make in wanted:
                entry = await self._acquire(key, make)
                held.append((key, entry))
                assert entry.path is not None
                paths.append(entry.path)
            yield paths
        finally:
            for key, entry in held:
                entry.users -= 1
                if self._entries.get(key) is entry:
                    self._entries.move_to_end(key)  # used last: deleted last
            self._evict()

    def clear(self) -> None:
        """Delete every file not held now."""
        for key in [k for k, e in self._entries.items() if not e.users and e.path]:
            self._discard(key)

    async def _acquire(self, key: K, make: Maker) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        self._entries.move_to_end(key)
        entry.users += 1
        try:
            async with entry.lock:  # one maker; the other askers wait for it
                if entry.path is None:
                    entry.path = await self._make(make)
        except BaseException:
            entry.users -= 1
            if entry.path is None and not entry.users and self._entries.get(key) is entry:
                del self._entries[key]
            raise
        return entry

    async def _make(self, make: Maker) -> Path:
        if self.directory is not None:
            await asyncio.to_thread(self.directory.mkdir, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="xxci-", suffix=self._suffix, dir=self.directory)
        os.close(fd)
        path = Path(name)
        try:
            await make(path)
        except BaseException:
            path.unlink(missing_ok=True)  # noqa: ASYNC240 (one unlink; a thread costs more)
            raise
        return path

    def _evict(self) -> None:
        idle = [k for k, e in self._entries.items() if not e.users and e.path]
        for key in idle[: max(0, len(idle) - self.keep)]:
            self._discard(key)

    def _discard(self, key: K) -> None:
        entry = self._entries.pop(key)
        if entry.path is not None:
            entry.path.unlink(missing_ok=True)
