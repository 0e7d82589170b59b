"""FileCache: one maker per key, files kept while held and the last used idle ones."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from xxci.common.file_cache import FileCache, Maker


def writer(text: str, calls: list[str] | None = None) -> Maker:
    async def make(dest: Path) -> None:
        if calls is not None:
            calls.append(text)
        await asyncio.sleep(0)  # let other askers arrive meanwhile
        await asyncio.to_thread(dest.write_text, text)

    return make


async def test_concurrent_askers_share_one_making_of_a_key(tmp_path: Path) -> None:
    cache: FileCache[str] = FileCache(tmp_path / "files")
    calls: list[str] = []

    async def ask() -> Path:
        async with cache.using([("k", writer("data", calls))]) as paths:
            return paths[0]

    paths = await asyncio.gather(*(ask() for _ in range(5)))

    assert calls == ["data"]
    assert len(set(paths)) == 1 and paths[0].read_text() == "data"
    assert os.listdir(tmp_path / "files") == [paths[0].name]


async def test_only_the_last_used_idle_files_are_kept(tmp_path: Path) -> None:
    cache: FileCache[str] = FileCache(tmp_path / "files", keep=2)
    names: dict[str, str] = {}
    async with cache.using([("a", writer("a"))]) as held:
        names["a"] = held[0].name
        for key in "bcd":
            async with cache.using([(key, writer(key))]) as paths:
                names[key] = paths[0].name
        # a is held, so kept; of the idle b, c, d the two used last stay.
        assert sorted(os.listdir(tmp_path / "files")) == sorted(names[k] for k in "acd")
    # a is now the one used last of all: it and d stay.
    assert sorted(os.listdir(tmp_path / "files")) == sorted(names[k] for k in "ad")
    cache.clear()
    assert os.listdir(tmp_path / "files") == []


async def test_with_keep_zero_files_live_only_while_held() -> None:
    cache: FileCache[str] = FileCache(keep=0)
    async with cache.using([("k", writer("x"))]) as paths:
        assert paths[0].read_text() == "x"
    assert not paths[0].exists()


async def test_a_failed_making_leaves_nothing_and_is_tried_afresh(tmp_path: Path) -> None:
    cache: FileCache[str] = FileCache(tmp_path / "files")

    async def broken(dest: Path) -> None:
        await asyncio.to_thread(dest.write_text, "half")
        raise OSError("disk full")

    async with cache.using([("ok", writer("fine"))]):
        with pytest.raises(OSError, match="disk full"):
            async with cache.using([("ok", writer("fine")), ("k", broken)]):
                raise AssertionError("unreachable")
    assert [p.read_text() for p in (tmp_path / "files").iterdir()] == ["fine"]
    async with cache.using([("k", writer("second try"))]) as paths:
        assert paths[0].read_text() == "second try"
