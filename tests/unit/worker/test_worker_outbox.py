"""Outbox delivery rules: numbering, order, kept until acked, resent after a dropped
stream, drop policy, backpressure and the send window."""

from __future__ import annotations

import asyncio

import pytest

from xxci.common.attempts import AttemptKey
from xxci.common.status import JobStatus
from xxci.worker.attempt.messages import AttemptMessage, Finished, OutputChunk, StepFinished
from xxci.worker.connection.outbox import MAX_UNACKED, Outboxes, Pending

pytestmark = pytest.mark.timeout(5)

KEY = AttemptKey("r1", "build", 1)
OTHER = AttemptKey("r1", "test", 1)


def chunk(seq: int, data: bytes) -> OutputChunk:
    return OutputChunk(seq=seq, stream="stdout", data=data)


def finish() -> Finished:
    return Finished(status=JobStatus.SUCCESS)


def step(index: int) -> StepFinished:
    return StepFinished(index=index, exit_code=0)


def chunks_of(pending: list[Pending]) -> list[OutputChunk]:
    return [p.message for p in pending if isinstance(p.message, OutputChunk)]


def chunk_seq(pending: Pending) -> int:
    assert isinstance(pending.message, OutputChunk)
    return pending.message.seq


def reconnect(boxes: Outboxes) -> None:
    boxes.set_online(False)
    boxes.set_online(True)


async def write_all(boxes: Outboxes) -> list[Pending]:
    """Hand out and write everything the feeder would write right now."""
    out = await drain(boxes)
    for pending in out:
        boxes.written(pending)
    return out


async def drain(boxes: Outboxes) -> list[Pending]:
    """Everything the feeder would hand out right now (without writing it)."""
    out = []
    while True:
        try:
            async with asyncio.timeout(0.05):
                out.append(await boxes.next())
        except TimeoutError:
            return out


def describe(pending: list[Pending]) -> list[tuple[str, int]]:
    """(message type, output seq or 0) of each message."""
    result: list[tuple[str, int]] = []
    for p in pending:
        message: AttemptMessage = p.message
        seq = message.seq if isinstance(message, OutputChunk) else 0
        result.append((type(message).__name__, seq))
    return result


async def test_messages_come_out_in_order_and_round_robin() -> None:
    boxes = Outboxes()
    boxes.set_online(True)
    a, b = boxes.open(KEY), boxes.open(OTHER)
    for seq in (1, 2):
        await a.put(chunk(seq, b"a"))
        await b.put(chunk(seq, b"b"))
    out = await drain(boxes)
    assert [(p.outbox.key.job, chunk_seq(p)) for p in out] == [
        ("build", 1),
        ("test", 1),
        ("build", 2),
        ("test", 2),
    ]


async def test_messages_are_numbered_from_1_per_attempt() -> None:
    boxes = Outboxes()
    boxes.set_online(True)
    a, b = boxes.open(KEY), boxes.open(OTHER)
    await a.put(chunk(1, b"a"))
    await a.put(step(0))
    await b.put(chunk(1, b"b"))
    await a.put(finish())
    out = await drain(boxes)
    assert [(p.outbox.key.job, p.seq) for p in out] == [
        ("build", 1),
        ("test", 1),
        ("build", 2),
        ("build", 3),
    ]


async def test_unacked_messages_are_sent_again_after_a_rewind() -> None:
    boxes = Outboxes()
    boxes.set_online(True)
    box = boxes.open(KEY)
    for seq in (1, 2, 3):
        await box.put(chunk(seq, b"x"))
    await box.put(step(0))
    first = await drain(boxes)
    boxes.written(first[0])
    boxes.written(first[1])  # 3 and the step were handed out, never written
    boxes.acked(KEY, 1)  # the orchestrator handled seq 1 only
    assert box.kept == 3
    reconnect(boxes)
    again = await drain(boxes)
    assert [p.seq for p in again] == [2, 3, 4]
    assert describe(again) == [("OutputChunk", 2), ("OutputChunk", 3), ("StepFinished", 0)]


async def test_messages_are_kept_over_any_number_of_streams_until_acked() -> None:
    boxes = Outboxes()
    boxes.set_online(True)
    box = boxes.open(KEY)
    await box.put(step(0))
    await box.put(finish())
    box.close()
    for _ in range(5):
        assert [p.seq for p in await write_all(boxes)] == [1, 2]
        assert not boxes.delivered()
        reconnect(boxes)
    boxes.acked(KEY, 1)
    assert [p.seq for p in await write_all(boxes)] == [2]
    boxes.acked(KEY, 2)
    assert boxes.delivered()
    assert KEY not in boxes
    reconnect(boxes)
    assert await drain(boxes) == []


async def test_an_ack_may_overtake_the_writer() -> None:
    boxes = Outboxes()
    boxes.set_online(True)
    box = boxes.open(KEY)
    await box.put(step(0))
    await box.put(step(1))
    first, second = await drain(boxes)
    boxes.acked(KEY, 2)  # the ack is read before the writer reports its writes
    boxes.written(first)
    boxes.written(second)
    assert box.kept == 0
    reconnect(boxes)
    assert await drain(boxes) == []


async def test_offline_drop_keeps_the_latest_output_and_marks_the_gap() -> None:
    boxes = Outboxes(max_log_bytes=30)
    box = boxes.open(KEY)  # offline from the start
    for seq in range(1, 11):
        await box.put(chunk(seq, b"%09d\n" % seq))  # 10 bytes each, never waits offline
    await box.put(finish())
    boxes.set_online(True)
    out = await drain(boxes)
    chunks = chunks_of(out)
    marker, *kept = chunks
    assert marker.stream == "system"
    assert marker.seq == 1  # the first dropped chunk's seq
    assert b"70 bytes of output (7 chunks) dropped" in marker.data
    assert [c.seq for c in kept] == [8, 9, 10]  # the newest output survives
    assert isinstance(out[-1].message, Finished)  # never dropped
    assert box.dropped_bytes == 70


async def test_online_producer_waits_for_the_writer_instead_of_dropping() -> None:
    boxes = Outboxes(max_log_bytes=20)
    boxes.set_online(True)
    box = boxes.open(KEY)
    await box.put(chunk(1, b"x" * 20))
    blocked = asyncio.create_task(box.put(chunk(2, b"y" * 20)))
    await asyncio.sleep(0.05)
    assert not blocked.done()
    boxes.written(await boxes.next())
    async with asyncio.timeout(1):
        await blocked
    # 20 bytes written and not acked fill the send window: chunk 2 waits for the ack.
    assert await drain(boxes) == []
    boxes.acked(KEY, 1)
    assert describe(await drain(boxes)) == [("OutputChunk", 2)]


async def test_the_send_window_holds_back_only_chunks_and_what_follows_them() -> None:
    boxes = Outboxes(max_log_bytes=20)
    boxes.set_online(True)
    box, other = boxes.open(KEY), boxes.open(OTHER)
    await box.put(chunk(1, b"x" * 20))
    await write_all(boxes)
    await box.put(chunk(2, b"y"))
    await box.put(step(0))
    await other.put(chunk(1, b"z" * 20))
    out = await drain(boxes)
    # The other attempt has its own window; this one keeps its order behind the chunk.
    assert [(p.outbox.key.job, p.seq) for p in out] == [("test", 1)]
    boxes.acked(KEY, 1)
    assert describe(await drain(boxes)) == [("OutputChunk", 2), ("StepFinished", 0)]


async def test_going_offline_releases_a_waiting_producer() -> None:
    boxes = Outboxes(max_log_bytes=20)
    boxes.set_online(True)
    box = boxes.open(KEY)
    await box.put(chunk(1, b"x" * 20))
    blocked = asyncio.create_task(box.put(chunk(2, b"y" * 20)))
    await asyncio.sleep(0.05)
    boxes.set_online(False)
    async with asyncio.timeout(1):
        await blocked
    boxes.set_online(True)
    out = await drain(boxes)
    assert [chunk_seq(p) for p in out] == [1, 2]
    assert chunks_of(out)[0].stream == "system"  # seq 1 became the marker


async def test_written_chunks_are_never_dropped_and_the_marker_takes_an_unsent_seq() -> None:
    boxes = Outboxes(max_log_bytes=30)
    boxes.set_online(True)
    box = boxes.open(KEY)
    for seq in (1, 2):
        await box.put(chunk(seq, b"%09d\n" % seq))
    await write_all(boxes)  # written, not acked: the orchestrator may hold them
    boxes.set_online(False)
    for seq in range(3, 11):
        await box.put(chunk(seq, b"%09d\n" % seq))
    boxes.set_online(True)
    chunks = chunks_of(await drain(boxes))
    # 1 and 2 again, then the window (30 bytes) is full until they are acked.
    assert [(c.seq, c.stream) for c in chunks] == [
        (1, "stdout"),
        (2, "stdout"),
        (3, "system"),
        (8, "stdout"),
    ]
    assert b"50 bytes of output (5 chunks) dropped" in chunks[2].data
    boxes.acked(KEY, 2)
    assert describe(await drain(boxes)) == [("OutputChunk", 9), ("OutputChunk", 10)]


async def test_unfinished_names_attempts_whose_job_finished_was_not_written() -> None:
    boxes = Outboxes()
    boxes.set_online(True)
    box = boxes.open(KEY)
    await box.put(finish())
    box.close()
    assert boxes.unfinished() == [KEY]
    boxes.written(await boxes.next())
    assert boxes.unfinished() == []
    assert not boxes.delivered()
    boxes.acked(KEY, 1)
    assert KEY not in boxes
    assert boxes.delivered()


async def test_at_most_a_bounded_number_of_ended_attempts_wait_for_acks() -> None:
    boxes = Outboxes()
    boxes.set_online(True)
    keys = [AttemptKey("r1", f"job{i}", 1) for i in range(MAX_UNACKED + 1)]
    for key in keys:
        box = boxes.open(key)
        await box.put(finish())
        box.close()
    assert keys[0] not in boxes  # the oldest was forgotten
    assert all(key in boxes for key in keys[1:])
    running = boxes.open(AttemptKey("r1", "running", 1))
    await running.put(step(0))
    assert running.key in boxes  # a running attempt is never forgotten


async def test_closed_outbox_refuses_messages() -> None:
    boxes = Outboxes()
    box = boxes.open(KEY)
    box.close()
    with pytest.raises(RuntimeError):
        await box.put(chunk(1, b"late"))


async def test_an_empty_closed_outbox_is_forgotten() -> None:
    boxes = Outboxes()
    box = boxes.open(KEY)
    assert KEY in boxes
    box.close()
    assert KEY not in boxes
    assert boxes.delivered()
