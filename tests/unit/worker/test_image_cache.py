"""ImageCache: one look-up per run and image name, however many jobs ask at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from xxci.worker.docker.engine import ImageInfo
from xxci.worker.docker.images import ImageCache

pytestmark = pytest.mark.timeout(10)

BUSYBOX = ImageInfo(id="sha256:b1", digest="sha256:b1")
ALPINE = ImageInfo(id="sha256:a1", digest="alpine@sha256:a1")


class Engine:
    """Answers look-ups from ``images``, counting them; ``gate`` holds each answer."""

    def __init__(self, images: dict[str, ImageInfo]) -> None:
        self.images = images
        self.asked: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()

    def look_up(self, name: str) -> Callable[[], Awaitable[ImageInfo | None]]:
        async def ask() -> ImageInfo | None:
            self.asked.append(name)
            await self.gate.wait()
            return self.images.get(name)

        return ask


async def test_the_jobs_of_a_run_ask_once_even_all_at_once() -> None:
    engine, cache = Engine({"busybox": BUSYBOX}), ImageCache()
    engine.gate.clear()
    waves = [
        asyncio.create_task(cache.resolve("r1", "busybox", engine.look_up("busybox")))
        for _ in range(5)
    ]
    await asyncio.sleep(0)
    engine.gate.set()
    assert await asyncio.gather(*waves) == [BUSYBOX] * 5
    assert await cache.resolve("r1", "busybox", engine.look_up("busybox")) == BUSYBOX
    assert engine.asked == ["busybox"]


async def test_another_run_or_another_name_asks_again() -> None:
    engine, cache = Engine({"busybox": BUSYBOX, "alpine": ALPINE}), ImageCache()
    await cache.resolve("r1", "busybox", engine.look_up("busybox"))
    engine.images["busybox"] = ALPINE  # re-tagged: the next run sees the new one
    assert await cache.resolve("r1", "busybox", engine.look_up("busybox")) == BUSYBOX
    assert await cache.resolve("r2", "busybox", engine.look_up("busybox")) == ALPINE
    assert await cache.resolve("r1", "alpine", engine.look_up("alpine")) == ALPINE
    assert engine.asked == ["busybox", "busybox", "alpine"]


async def test_an_absent_image_is_not_remembered_and_a_forgotten_one_is_asked_again() -> None:
    engine, cache = Engine({}), ImageCache()
    assert await cache.resolve("r1", "busybox", engine.look_up("busybox")) is None
    engine.images["busybox"] = BUSYBOX  # pulled
    assert await cache.resolve("r1", "busybox", engine.look_up("busybox")) == BUSYBOX
    cache.forget("r1", "busybox")
    assert await cache.resolve("r1", "busybox", engine.look_up("busybox")) == BUSYBOX
    assert engine.asked == ["busybox"] * 3


async def test_a_failed_look_up_is_not_remembered() -> None:
    cache = ImageCache()

    async def broken() -> ImageInfo | None:
        raise RuntimeError("engine gone")

    with pytest.raises(RuntimeError, match="engine gone"):
        await cache.resolve("r1", "busybox", broken)
    engine = Engine({"busybox": BUSYBOX})
    assert await cache.resolve("r1", "busybox", engine.look_up("busybox")) == BUSYBOX
    assert engine.asked == ["busybox"]


async def test_the_least_recently_used_is_forgotten_past_keep() -> None:
    engine, cache = Engine({"busybox": BUSYBOX}), ImageCache(keep=2)
    for run in ("r1", "r2", "r1", "r3", "r1", "r2"):
        await cache.resolve(run, "busybox", engine.look_up("busybox"))
    # r1 stayed in use; r2 was the least recently used when r3 came, so it is asked again.
    assert engine.asked == ["busybox"] * 4


async def test_keep_zero_remembers_nothing() -> None:
    engine, cache = Engine({"busybox": BUSYBOX}), ImageCache(keep=0)
    for _ in range(3):
        await cache.resolve("r1", "busybox", engine.look_up("busybox"))
    assert engine.asked == ["busybox"] * 3
