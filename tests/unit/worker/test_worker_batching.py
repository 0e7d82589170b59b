"""LogBatcher coalescing, race() ownership and backoff bounds."""

from __future__ import annotations

import asyncio

import pytest

from xxci.common.attempts import AttemptKey
from xxci.common.convert import log_stream_from_pb
from xxci.worker.attempt import LogBatcher, attempt_dir_name
from xxci.worker.concurrency import backoff_delay, race
from xxci.worker.outbox import Outboxes

pytestmark = pytest.mark.timeout(5)

KEY = AttemptKey("r1", "build", 1)


async def sent_chunks(boxes: Outboxes) -> list[tuple[int, str, bytes]]:
    out: list[tuple[int, str, bytes]] = []
    while True:
        try:
            async with asyncio.timeout(0.02):
                p = await boxes.next()
        except TimeoutError:
            return out
        boxes.written(p)
        c = p.message.log_chunk
        out.append((c.seq, log_stream_from_pb(c.stream), c.data))


async def test_lines_are_coalesced_and_split_at_the_size_limit() -> None:
    boxes = Outboxes()
    boxes.set_online(True)
    batcher = LogBatcher(KEY, boxes.open(KEY), max_bytes=100, max_delay=10)
    for i in range(30):
        await batcher.output("stdout", b"line %02d\n" % i)  # 8 bytes each, 240 in all
    await batcher.flush()
    chunks = await sent_chunks(boxes)
    assert [len(data) for _, _, data in chunks] == [100, 100, 40]
    assert [seq for seq, _, _ in chunks] == [1, 2, 3]
    assert b"".join(data for _, _, data in chunks) == b"".join(
        b"line %02d\n" % i for i in range(30)
    )


async def test_a_stream_change_starts_a_new_chunk() -> None:
    boxes = Outboxes()
    boxes.set_online(True)
    batcher = LogBatcher(KEY, boxes.open(KEY), max_delay=10)
    await batcher.output("stdout", b"a")
    await batcher.output("stdout", b"b")
    await batcher.output("stderr", b"c")
    await batcher.output("stdout", b"d")
    await batcher.flush()
    assert await sent_chunks(boxes) == [
        (1, "stdout", b"ab"),
        (2, "stderr", b"c"),
        (3, "stdout", b"d"),
    ]


async def test_quiet_output_is_sent_after_the_delay() -> None:
    boxes = Outboxes()
    boxes.set_online(True)
    batcher = LogBatcher(KEY, boxes.open(KEY), max_delay=0.05)
    timer = asyncio.create_task(batcher.run_timer())
    try:
        await batcher.output("stdout", b"waiting for input\n")
        assert await sent_chunks(boxes) == []  # not yet: inside the 50 ms window
        await asyncio.sleep(0.1)
        assert await sent_chunks(boxes) == [(1, "stdout", b"waiting for input\n")]
    finally:
        timer.cancel()
        await asyncio.gather(timer, return_exceptions=True)


async def test_race_cancels_the_rest_and_raises_the_first_error() -> None:
    cancelled: list[str] = []

    async def forever(name: str) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.append(name)

    async def boom() -> None:
        await asyncio.sleep(0.01)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await race(forever("a"), boom(), forever("b"))
    assert sorted(cancelled) == ["a", "b"]


async def test_cancelling_race_cancels_its_tasks() -> None:
    cancelled: list[str] = []

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.append("x")

    task = asyncio.create_task(race(forever(), forever()))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled == ["x", "x"]


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    for failures, step in [(1, 0.5), (2, 1.0), (3, 2.0), (5, 8.0), (6, 10.0), (50, 10.0)]:
        delays = {backoff_delay(failures) for _ in range(50)}
        assert all(step / 2 <= d <= step for d in delays)
        assert len(delays) > 1


def test_attempt_dir_names_are_safe_and_distinct() -> None:
    a = attempt_dir_name(AttemptKey("r/1", "a b", 1))
    b = attempt_dir_name(AttemptKey("r_1", "a_b", 1))
    assert "/" not in a and " " not in a
    assert a != b
