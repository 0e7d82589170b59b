"""Outbox delivery rules: order, rewind on a dropped stream, drop policy, backpressure, acks."""

from __future__ import annotations

import asyncio

import pytest

from xxci.common.pb.v1 import worker_pb2
from xxci.worker.convert import AttemptKey
from xxci.worker.outbox import MAX_FINISH_SENDS, Outboxes, Pending

pytestmark = pytest.mark.timeout(5)

KEY = AttemptKey("r1", "build", 1)
OTHER = AttemptKey("r1", "test", 1)


def chunk(seq: int, data: bytes, key: AttemptKey = KEY) -> worker_pb2.WorkerMessage:
    return worker_pb2.WorkerMessage(
        log_chunk=worker_pb2.LogChunk(ref=key.to_proto(), seq=seq, stream="stdout", data=data)
    )


def finish(key: AttemptKey = KEY) -> worker_pb2.WorkerMessage:
    return worker_pb2.WorkerMessage(
        job_finished=worker_pb2.JobFinished(ref=key.to_proto(), status="SUCCESS")
    )


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
    result = []
    for p in pending:
        kind = p.message.WhichOneof("kind")
        result.append((kind, p.message.log_chunk.seq if kind == "log_chunk" else 0))
    return result


async def test_messages_come_out_in_order_and_round_robin() -> None:
    boxes = Outboxes()
    boxes.set_online(True)
    a, b = boxes.open(KEY), boxes.open(OTHER)
    for seq in (1, 2):
        await a.put(chunk(seq, b"a"))
        await b.put(chunk(seq, b"b", OTHER))
    out = await drain(boxes)
    assert [(p.outbox.key.job, p.message.log_chunk.seq) for p in out] == [
        ("build", 1),
        ("test", 1),
        ("build", 2),
        ("test", 2),
    ]


async def test_unwritten_messages_are_sent_again_after_a_rewind() -> None:
    boxes = Outboxes()
    boxes.set_online(True)
    box = boxes.open(KEY)
    for seq in (1, 2, 3):
        await box.put(chunk(seq, b"x"))
    first = await drain(boxes)
    boxes.written(first[0])  # only seq 1 made it onto the stream
    assert not boxes.flushed()
    boxes.set_online(False)
    boxes.set_online(True)
    assert describe(await drain(boxes)) == [("log_chunk", 2), ("log_chunk", 3)]


async def test_offline_drop_keeps_the_latest_output_and_marks_the_gap() -> None:
    boxes = Outboxes(max_log_bytes=30)
    box = boxes.open(KEY)  # offline from the start
    for seq in range(1, 11):
        await box.put(chunk(seq, b"%09d\n" % seq))  # 10 bytes each, never waits offline
    await box.put(finish())
    boxes.set_online(True)
    out = await drain(boxes)
    chunks = [p.message.log_chunk for p in out if p.message.WhichOneof("kind") == "log_chunk"]
    marker, *kept = chunks
    assert marker.stream == "system"
    assert marker.seq == 1  # the first dropped chunk's seq
    assert b"70 bytes of output (7 chunks) dropped" in marker.data
    assert [c.seq for c in kept] == [8, 9, 10]  # the newest output survives
    assert out[-1].message.WhichOneof("kind") == "job_finished"  # never dropped
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
    assert describe(await drain(boxes)) == [("log_chunk", 2)]


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
    assert [p.message.log_chunk.seq for p in out] == [1, 2]
    assert out[0].message.log_chunk.stream == "system"  # seq 1 became the marker


async def test_job_finished_is_kept_until_acked() -> None:
    boxes = Outboxes()
    boxes.set_online(True)
    box = boxes.open(KEY)
    await box.put(finish())
    box.close()
    assert boxes.unfinished() == [KEY]
    boxes.written(await boxes.next())
    assert boxes.unfinished() == []
    assert boxes.flushed()
    boxes.set_online(False)
    boxes.set_online(True)
    again = await drain(boxes)
    assert describe(again) == [("job_finished", 0)]
    boxes.acked(KEY, "job_finished")
    assert KEY not in boxes


async def test_unacked_job_finished_is_given_up_after_a_few_streams() -> None:
    boxes = Outboxes()
    boxes.set_online(True)
    box = boxes.open(KEY)
    await box.put(finish())
    box.close()
    for _ in range(MAX_FINISH_SENDS):
        boxes.written(await boxes.next())
        boxes.set_online(False)
        boxes.set_online(True)
    assert KEY not in boxes
    assert await drain(boxes) == []


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
    assert boxes.flushed()
