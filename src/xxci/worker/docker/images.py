"""Which local image each run's jobs use: looked up once per run and image name.

Every job of a run names its image; asking the engine about it before each job is an
engine call on every job's way to its start. :class:`ImageCache` remembers what a
name resolved to for one run, so the jobs of a run ask once (and those that ask at
the same moment wait for that one answer), and run the image ID it gave: what the
report says a job ran is what it ran, even if the name is re-tagged meanwhile. A run
that starts later asks again. Only images found are remembered; an absent one is
pulled by the job that found it missing.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from xxci.worker.docker.engine import ImageInfo

__all__ = ["ImageCache"]

Key = tuple[str, str]
"""(run id, image name)."""


class ImageCache:
    """The image each (run, name) resolved to; at most ``keep`` remembered, the least
    recently used forgotten first."""

    def __init__(self, keep: int = 256) -> None:
        self._keep = max(0, keep)
        self._found: OrderedDict[Key, ImageInfo] = OrderedDict()
        self._locks: dict[Key, asyncio.Lock] = {}

    async def resolve(
        self, run_id: str, name: str, look_up: Callable[[], Awaitable[ImageInfo | None]]
    ) -> ImageInfo | None:
        """What ``name`` resolved to for ``run_id``, calling ``look_up`` when it is not
        known yet (once, however many callers ask at the same time)."""
        key = (run_id, name)
        found = self._remembered(key)
        if found is not None:
            return found
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                found = self._remembered(key)
                if found is None:
                    found = await look_up()
                    if found is not None:
                        self._remember(key, found)
                return found
        finally:
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]

    def forget(self, run_id: str, name: str) -> None:
        """Ask the engine again next time (the image is no longer there)."""
        self._found.pop((run_id, name), None)

    def _remembered(self, key: Key) -> ImageInfo | None:
        found = self._found.get(key)
        if found is not None:
            self._found.move_to_end(key)
        return found

    def _remember(self, key: Key, found: ImageInfo) -> None:
        if not self._keep:
            return
        self._found[key] = found
        self._found.move_to_end(key)
        while len(self._found) > self._keep:
            self._found.popitem(last=False)
