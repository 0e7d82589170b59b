"""The orchestrator's Acks: cumulative per attempt, batched, at once after JobFinished."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from xxci.common.attempts import AttemptKey
from xxci.orchestrator.domain.messages import Ack
from xxci.orchestrator.rpc.acks import AckBatcher

pytestmark = pytest.mark.timeout(5)

BUILD = AttemptKey("r1", "build", 1)
TEST = AttemptKey("r1", "test", 2)


class Stream:
    """Collects what the batcher sends, as (job, attempt, through)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, int]] = []

    def send(self, ack: Ack) -> bool:
        self.sent.append((ack.key.job, ack.key.attempt, ack.through))
        return True


@pytest.fixture
def stream() -> Stream:
    return Stream()


@pytest.fixture
async def running(stream: Stream) -> AsyncIterator[AckBatcher]:
    """A batcher with a 50 ms delay whose timer task runs."""
    acks = AckBatcher(stream.send, delay=0.05, every=4)
    task = asyncio.create_task(acks.run())
    yield acks
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_messages_handled_together_are_acked_once_after_the_delay(
    running: AckBatcher, stream: Stream
) -> None:
    for seq in (1, 2, 3):
        running.handled(BUILD, seq)
    running.handled(TEST, 1)
    assert stream.sent == []
    while len(stream.sent) < 2:  # noqa: ASYNC110 - polling a plain list
        await asyncio.sleep(0.01)
    assert sorted(stream.sent) == [("build", 1, 3), ("test", 2, 1)]
    await asyncio.sleep(0.1)
    assert len(stream.sent) == 2  # nothing more is owed


async def test_many_messages_are_acked_without_waiting(stream: Stream) -> None:
    acks = AckBatcher(stream.send, delay=60.0, every=4)  # the timer would never fire
    for seq in range(1, 10):
        acks.handled(BUILD, seq)
    assert stream.sent == [("build", 1, 4), ("build", 1, 8)]


async def test_job_finished_is_acked_at_once_with_everything_before_it(stream: Stream) -> None:
    acks = AckBatcher(stream.send, delay=60.0)
    acks.handled(BUILD, 1)
    acks.handled(BUILD, 2, now=True)
    assert stream.sent == [("build", 1, 2)]


async def test_unnumbered_messages_are_not_acked(stream: Stream) -> None:
    acks = AckBatcher(stream.send, delay=60.0)
    acks.handled(BUILD, 0, now=True)
    acks.flush()
    assert stream.sent == []
