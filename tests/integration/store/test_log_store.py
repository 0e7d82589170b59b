"""LogStore against a real SQLite file shared with the event store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from xxci.orchestrator.store import LogChunk, LogStorage, LogStore

from .conftest import Backend

T0 = datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC)


def chunk(seq: int, data: bytes, *, job: str = "build", attempt: int = 1) -> LogChunk:
    return LogChunk("r1", job, attempt, seq, "stdout", data, T0)


async def test_append_and_read_in_seq_order(log_store: LogStorage) -> None:
    assert await log_store.append("r1", "build", 1, 2, "stderr", b"second\n", at=T0)
    assert await log_store.append("r1", "build", 1, 1, "stdout", b"first\n", at=T0)
    await log_store.append_many([chunk(3, b"\x00\xffbinary"), chunk(1, b"other", job="lint")])

    read = await log_store.read("r1", "build", 1)
    assert read == [
        LogChunk("r1", "build", 1, 1, "stdout", b"first\n", T0),
        LogChunk("r1", "build", 1, 2, "stderr", b"second\n", T0),
        LogChunk("r1", "build", 1, 3, "stdout", b"\x00\xffbinary", T0),
    ]
    assert [c.seq for c in await log_store.read("r1", "build", 1, after_seq=1)] == [2, 3]
    assert [c.seq for c in await log_store.read("r1", "build", 1, limit=2)] == [1, 2]
    assert await log_store.read("r1", "build", 2) == []
    assert await log_store.last_seq("r1", "build", 1) == 3
    assert await log_store.last_seq("r1", "nope", 1) == 0


async def test_repeated_chunk_is_stored_once(log_store: LogStorage) -> None:
    assert await log_store.append("r1", "build", 1, 1, "stdout", b"hello\n") is True
    assert await log_store.append("r1", "build", 1, 1, "stdout", b"hello\n") is False
    stored = await log_store.append_many([chunk(1, b"resent"), chunk(2, b"new"), chunk(2, b"dup")])

    assert stored == 1
    assert [c.data for c in await log_store.read("r1", "build", 1)] == [b"hello\n", b"new"]


async def test_attempts(log_store: LogStorage) -> None:
    await log_store.append_many([chunk(1, b"a", attempt=3), chunk(1, b"b"), chunk(2, b"c")])
    await log_store.append_many([chunk(1, b"x", job="lint", attempt=2)])

    assert await log_store.attempts("r1", "build") == [1, 3]
    assert await log_store.attempts("r1", "lint") == [2]
    assert await log_store.attempts("r1", "none") == []


async def test_invalid_seq_or_attempt_is_rejected(log_store: LogStorage) -> None:
    with pytest.raises(ValueError):
        await log_store.append("r1", "build", 1, 0, "stdout", b"x")
    with pytest.raises(ValueError):
        await log_store.append("r1", "build", 0, 1, "stdout", b"x")
    assert await log_store.append_many([]) == 0


async def test_wait_for_wakes_on_a_new_chunk_of_that_attempt(log_store: LogStorage) -> None:
    await log_store.append_many([chunk(1, b"a")])
    waiter = asyncio.create_task(log_store.wait_for("r1", "build", 1, after_seq=1, timeout=10))
    await asyncio.sleep(0.05)
    await log_store.append_many([chunk(1, b"other job", job="lint"), chunk(1, b"resent")])
    await asyncio.sleep(0.05)
    assert not waiter.done()  # neither another attempt's chunk nor a duplicate wakes it

    await log_store.append_many([chunk(2, b"b")])

    async with asyncio.timeout(2):
        assert await waiter is True
    async with asyncio.timeout(1):  # already there: returns at once
        assert await log_store.wait_for("r1", "build", 1, after_seq=0, timeout=10) is True


async def test_wait_for_is_bounded_by_a_timeout(log_store: LogStorage) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await log_store.wait_for("r1", "build", 1, after_seq=0, timeout=0.1) is False
    assert 0.09 <= loop.time() - started < 1.0
    if isinstance(log_store, LogStore):
        assert log_store._followed == {}  # nothing left registered


async def test_follower_reads_everything(log_store: LogStorage) -> None:
    async def follow(until: int) -> bytes:
        out = b""
        cursor = 0
        while cursor < until:
            chunks = await log_store.read("r1", "build", 1, after_seq=cursor)
            if not chunks:
                assert await log_store.wait_for("r1", "build", 1, cursor, timeout=5)
                continue
            out += b"".join(c.data for c in chunks)
            cursor = chunks[-1].seq
        return out

    follower = asyncio.create_task(follow(50))
    for i in range(1, 51):
        await log_store.append("r1", "build", 1, i, "stdout", f"{i}\n".encode())
        if i % 10 == 0:
            await asyncio.sleep(0.01)
    async with asyncio.timeout(5):
        assert await follower == b"".join(f"{i}\n".encode() for i in range(1, 51))


async def test_chunks_survive_reopen(backend: Backend) -> None:
    async with await backend.open_logs() as logs:
        await logs.append_many([chunk(i, bytes([i]) * 1000) for i in range(1, 101)])
    async with await backend.open_logs() as logs:
        read = await logs.read("r1", "build", 1)
    assert [c.data for c in read] == [bytes([i]) * 1000 for i in range(1, 101)]


async def test_concurrent_appends_are_grouped_and_each_told_the_truth(
    log_store: LogStorage,
) -> None:
    results = await asyncio.gather(
        *(log_store.append("r1", "build", 1, seq, "stdout", b"x") for seq in range(1, 201)),
        *(log_store.append("r1", "build", 1, 7, "stdout", b"same") for _ in range(5)),
    )

    assert results[:200] == [True] * 200
    assert results[200:] == [False] * 5  # chunk 7 was new exactly once
    assert [c.seq for c in await log_store.read("r1", "build", 1)] == list(range(1, 201))


async def test_close_stores_what_was_queued(backend: Backend) -> None:
    logs = await backend.open_logs()
    tasks = [
        asyncio.create_task(logs.append("r1", "build", 1, seq, "stdout", b"x"))
        for seq in range(1, 51)
    ]
    await asyncio.sleep(0)  # all queued
    tasks[0].cancel()  # a cancelled caller does not withdraw its chunk
    await logs.close()
    await logs.close()

    assert sum(1 for t in tasks if not t.cancelled() and t.result()) == 49
    with pytest.raises(RuntimeError, match="closed"):
        await logs.append("r1", "build", 1, 99, "stdout", b"late")
    async with await backend.open_logs() as reopened:
        assert await reopened.last_seq("r1", "build", 1) == 50
        assert len(await reopened.read("r1", "build", 1)) == 50


async def test_naive_timestamp_is_rejected_before_queueing(log_store: LogStorage) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await log_store.append("r1", "build", 1, 1, "stdout", b"x", at=datetime(2025, 1, 1))
    assert await log_store.append("r1", "build", 1, 1, "stdout", b"x")  # writer still fine
