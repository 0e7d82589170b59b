"""LogBatcher coalescing, race() ownership and backoff bounds."""

from __future__ import annotations

import asyncio

import pytest

from xxci.common.attempts import AttemptKey
from xxci.worker.attempt.log_batcher import LogBatcher
from xxci.worker.attempt.messages import AttemptMessage, OutputChunk
from xxci.worker.attempt.runner import attempt_dir_name
from xxci.worker.connection.concurrency import backoff_delay, race

pytestmark = pytest.mark.timeout(5)


class Sink:
    """Keeps what an attempt puts, in order."""

    def __init__(self) -> None:
        self.messages: list[AttemptMessage] = []

    async def put(self, message: AttemptMessage) -> None:
        self.messages.append(message)

    def close(self) -> None:
        pass


def sent_chunks(sink: Sink) -> list[tuple[int, str, bytes]]:
    """The chunks put so far (and forgets them)."""
    out = [(m.seq, m.stream, m.data) for m in sink.messages if isinstance(m, OutputChunk)]
    sink.messages.clear()
    return out


async def test_lines_are_coalesced_and_split_at_the_size_limit() -> None:
    sink = Sink()
    batcher = LogBatcher(sink, max_bytes=100, max_delay=10)
    for i in range(30):
        await batcher.output("stdout", b"line %02d\n" % i)  # 8 bytes each, 240 in all
    await batcher.flush()
    chunks = sent_chunks(sink)
    assert [len(data) for _, _, data in chunks] == [100, 100, 40]
    assert [seq for seq, _, _ in chunks] == [1, 2, 3]
    assert b"".join(data for _, _, data in chunks) == b"".join(
        b"line %02d\n" % i for i in range(30)
    )


async def test_a_stream_change_starts_a_new_chunk() -> None:
    sink = Sink()
    batcher = LogBatcher(sink, max_delay=10)
    await batcher.output("stdout", b"a")
    await batcher.output("stdout", b"b")
    await batcher.output("stderr", b"c")
    await batcher.output("stdout", b"d")
    await batcher.flush()
    assert sent_chunks(sink) == [
        (1, "stdout", b"ab"),
        (2, "stderr", b"c"),
        (3, "stdout", b"d"),
    ]


async def test_quiet_output_is_sent_after_the_delay() -> None:
    sink = Sink()
    batcher = LogBatcher(sink, max_delay=0.05)
    timer = asyncio.create_task(batcher.run_timer())
    try:
        await batcher.output("stdout", b"waiting for input\n")
        assert sent_chunks(sink) == []  # not yet: inside the 50 ms window
        await asyncio.sleep(0.1)
        assert sent_chunks(sink) == [(1, "stdout", b"waiting for input\n")]
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
