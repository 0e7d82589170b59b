"""The event log contract (every backend): appends, versions, conflicts, reads, follow."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from xxci.common.errors import ConflictError
from xxci.common.events import (
    JobQueued,
    RecordedEvent,
    RunCreated,
    StageStarted,
    WorkerConnected,
    run_stream,
    worker_stream,
)
from xxci.orchestrator.store import EventStorage

from .conftest import Backend

RUN = run_stream("r1")
T0 = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def events_of(recorded: list[RecordedEvent]) -> list[object]:
    return [r.event for r in recorded]


async def test_append_returns_recorded_events_with_versions_and_seqs(
    event_store: EventStorage,
) -> None:
    recorded = await event_store.append(RUN, 0, [StageStarted("build"), JobQueued("a")], at=T0)

    assert [(r.stream, r.version, r.seq) for r in recorded] == [(RUN, 1, 1), (RUN, 2, 2)]
    assert events_of(recorded) == [StageStarted("build"), JobQueued("a")]
    assert all(r.at == T0 for r in recorded)

    more = await event_store.append(RUN, 2, [JobQueued("b")])
    assert (more[0].version, more[0].seq) == (3, 3)
    assert more[0].at.tzinfo is not None
    assert await event_store.stream_version(RUN) == 3
    assert await event_store.stream_version("run:unknown") == 0
    assert await event_store.last_seq() == 3


async def test_read_stream_returns_what_was_appended(event_store: EventStorage) -> None:
    appended = await event_store.append(RUN, 0, [StageStarted("build"), JobQueued("a")], at=T0)
    await event_store.append(worker_stream("w"), 0, [WorkerConnected("w", "host", 2)])
    await event_store.append(RUN, 2, [JobQueued("b")], at=T0)

    read = await event_store.read_stream(RUN)
    assert read[:2] == appended
    assert events_of(read) == [StageStarted("build"), JobQueued("a"), JobQueued("b")]
    assert [r.seq for r in read] == [1, 2, 4]
    assert [r.version for r in await event_store.read_stream(RUN, after_version=2)] == [3]
    assert [r.version for r in await event_store.read_stream(RUN, up_to_seq=3)] == [1, 2]
    assert await event_store.read_stream("run:none") == []


async def test_timestamps_are_utc_with_microseconds(event_store: EventStorage) -> None:
    paris = timezone(timedelta(hours=1))
    recorded = await event_store.append(RUN, 0, [StageStarted("s")], at=T0.astimezone(paris))

    assert recorded[0].at == T0
    assert (await event_store.read_stream(RUN))[0].at == T0
    with pytest.raises(ValueError, match="timezone-aware"):
        await event_store.append(RUN, 1, [StageStarted("t")], at=datetime(2025, 1, 1))
    assert await event_store.stream_version(RUN) == 1


async def test_stale_expected_version_conflicts_and_writes_nothing(
    event_store: EventStorage,
) -> None:
    await event_store.append(RUN, 0, [StageStarted("build")])

    with pytest.raises(ConflictError, match="at version 1, not 0"):
        await event_store.append(RUN, 0, [StageStarted("other"), JobQueued("x")])
    with pytest.raises(ConflictError, match="at version 1, not 5"):
        await event_store.append(RUN, 5, [JobQueued("gap")])

    assert events_of(await event_store.read_stream(RUN)) == [StageStarted("build")]
    assert await event_store.last_seq() == 1


async def test_two_concurrent_appends_one_wins(event_store: EventStorage) -> None:
    await event_store.append(RUN, 0, [StageStarted("build")])

    results = await asyncio.gather(
        event_store.append(RUN, 1, [JobQueued("a")]),
        event_store.append(RUN, 1, [JobQueued("b")]),
        return_exceptions=True,
    )

    winners = [r for r in results if isinstance(r, list)]
    losers = [r for r in results if isinstance(r, ConflictError)]
    assert len(winners) == 1 and len(losers) == 1
    assert events_of(await event_store.read_stream(RUN, after_version=1)) == events_of(winners[0])


async def test_two_stores_on_one_file_one_wins(event_store: EventStorage, backend: Backend) -> None:
    """Like two orchestrator processes: BEGIN IMMEDIATE serialises them across connections."""
    other = await backend.open_events()
    try:
        for round_ in range(20):
            results = await asyncio.gather(
                event_store.append(RUN, round_, [JobQueued(f"mine-{round_}")]),
                other.append(RUN, round_, [JobQueued(f"theirs-{round_}")]),
                return_exceptions=True,
            )
            assert sorted(type(r).__name__ for r in results) == ["ConflictError", "list"]
        assert await other.stream_version(RUN) == 20
        assert [r.version for r in await event_store.read_stream(RUN)] == list(range(1, 21))
    finally:
        await other.close()


async def test_read_all_since_up_to_limit_and_prefix(event_store: EventStorage) -> None:
    await event_store.append(run_stream("a"), 0, [StageStarted("s1"), StageStarted("s2")])
    await event_store.append(worker_stream("w"), 0, [WorkerConnected("w", "n", 1)])
    await event_store.append(run_stream("b"), 0, [StageStarted("s3")])

    assert [r.seq for r in await event_store.read_all()] == [1, 2, 3, 4]
    assert [r.seq for r in await event_store.read_all(since_seq=2)] == [3, 4]
    assert [r.seq for r in await event_store.read_all(up_to_seq=3)] == [1, 2, 3]
    assert [r.seq for r in await event_store.read_all(since_seq=1, limit=2)] == [2, 3]
    assert [r.seq for r in await event_store.read_all(stream_prefix="run:")] == [1, 2, 4]
    assert [r.seq for r in await event_store.read_all(stream_prefix="worker:")] == [3]
    assert await event_store.read_all(since_seq=4) == []


async def test_streams_by_prefix(event_store: EventStorage) -> None:
    for stream in (run_stream("b"), worker_stream("w"), run_stream("a"), "runner:x"):
        await event_store.append(stream, 0, [StageStarted("s")])

    assert await event_store.streams("run:") == ["run:a", "run:b"]
    assert await event_store.streams("worker:") == ["worker:w"]
    assert await event_store.streams("run") == ["run:a", "run:b", "runner:x"]
    assert len(await event_store.streams()) == 4
    assert await event_store.streams("nothing") == []


async def test_empty_append_is_a_no_op(event_store: EventStorage) -> None:
    assert await event_store.append(RUN, 0, []) == []
    assert await event_store.last_seq() == 0
    with pytest.raises(ValueError):
        await event_store.append(RUN, -1, [StageStarted("s")])


async def test_large_batch_is_one_append(event_store: EventStorage) -> None:
    batch = [JobQueued(f"j{i}") for i in range(2500)]  # more rows than one INSERT holds

    recorded = await event_store.append(RUN, 0, batch)

    assert [r.version for r in recorded] == list(range(1, 2501))
    assert [r.seq for r in recorded] == list(range(1, 2501))
    assert events_of(await event_store.read_stream(RUN)) == batch


async def test_everything_survives_close_and_reopen(backend: Backend) -> None:
    store = await backend.open_events()
    written: list[RecordedEvent] = []
    for i in range(5):
        written += await store.append(run_stream(f"r{i}"), 0, [StageStarted("s"), JobQueued("j")])
    await store.close()
    await store.close()  # idempotent

    async with await backend.open_events() as reopened:
        read = await reopened.read_all()
        assert read == written
        assert events_of(read) == events_of(written)
        assert await reopened.last_seq() == 10
        more = await reopened.append(run_stream("r0"), 2, [JobQueued("k")])
        assert more[0].seq == 11


async def test_wait_for_wakes_on_append(event_store: EventStorage) -> None:
    await event_store.append(RUN, 0, [StageStarted("s")])
    waiter = asyncio.create_task(event_store.wait_for(1, timeout=10))
    await asyncio.sleep(0.05)
    assert not waiter.done()

    await event_store.append(RUN, 1, [JobQueued("j")])

    async with asyncio.timeout(2):
        assert await waiter is True
    async with asyncio.timeout(1):  # already satisfied: returns at once
        assert await event_store.wait_for(0, timeout=10) is True


async def test_wait_for_is_bounded_by_a_timeout(event_store: EventStorage) -> None:
    await event_store.append(RUN, 0, [StageStarted("s")])
    loop = asyncio.get_running_loop()
    started = loop.time()

    assert await event_store.wait_for(1, timeout=0.1) is False

    assert 0.09 <= loop.time() - started < 1.0


async def test_follower_sees_every_event_exactly_once(event_store: EventStorage) -> None:
    async def follow(count: int) -> list[int]:
        seen: list[int] = []
        cursor = 0
        while len(seen) < count:
            batch = await event_store.read_all(since_seq=cursor, limit=7)
            if not batch:
                assert await event_store.wait_for(cursor, timeout=5)
                continue
            seen += [r.seq for r in batch]
            cursor = batch[-1].seq
        return seen

    follower = asyncio.create_task(follow(60))
    for i in range(20):
        await event_store.append(run_stream(f"r{i}"), 0, [StageStarted("a"), JobQueued("b")])
        await event_store.append(run_stream(f"r{i}"), 2, [JobQueued("c")])
    async with asyncio.timeout(5):
        assert await follower == list(range(1, 61))


async def test_cancelled_append_still_completes(backend: Backend) -> None:
    """Cancelling the caller stops its wait, not the write: no torn or lost commit."""
    store = await backend.open_events()
    try:
        tasks = [
            asyncio.create_task(store.append(run_stream(f"c{i}"), 0, [StageStarted("s")]))
            for i in range(10)
        ]
        await asyncio.sleep(0)  # every append has started
        for task in tasks[::2]:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert sum(isinstance(r, asyncio.CancelledError) for r in results) == 5
        # followers were told about the cancelled ones too
        assert await store.wait_for(9, timeout=2)
    finally:
        await store.close()  # also waits for writes still under way
    async with await backend.open_events() as reopened:
        assert await reopened.streams("run:") == sorted(f"run:c{i}" for i in range(10))
        assert await reopened.last_seq() == 10


async def test_concurrent_appends_commit_together_and_a_conflict_fails_alone(
    event_store: EventStorage,
) -> None:
    await event_store.append(RUN, 0, [StageStarted("build")])

    def wrong_run(number: int) -> RunCreated:  # right when asked for the pipeline only
        return RunCreated("x" if number == 0 else "y", {"name": "p"}, number)

    results = await asyncio.gather(
        *(event_store.append(run_stream(f"r{i}"), 0, [JobQueued(f"j{i}")]) for i in range(2, 22)),
        event_store.append(RUN, 0, [JobQueued("stale")]),  # RUN is at version 1
        event_store.append_run_created("x", wrong_run),
        event_store.append(RUN, 1, [JobQueued("fresh")]),
        return_exceptions=True,
    )

    *fine, stale, broken, fresh = results
    assert isinstance(stale, ConflictError) and "at version 1, not 0" in str(stale)
    assert isinstance(broken, ValueError) and "made run 'y'" in str(broken)
    assert all(isinstance(r, list) for r in [*fine, fresh])
    seqs = [r[0].seq for r in [*fine, fresh] if isinstance(r, list)]
    assert seqs == list(range(2, 23))  # gapless, in the order they were asked for
    assert [r.event for r in await event_store.read_stream(RUN)] == [
        StageStarted("build"),
        JobQueued("fresh"),
    ]
    assert await event_store.last_seq() == 22
    assert await event_store.streams("run:x") == []
