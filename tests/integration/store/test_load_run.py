"""Rebuilding a run from a real SQLite log, and the re-read-and-retry loop around appends."""

from __future__ import annotations

import pytest

from tests.unit.domain.harness import job, pipeline
from xxci.common.errors import ConflictError, NotFoundError
from xxci.common.events import JobQueued, RunCreated, StageStarted, run_stream
from xxci.common.status import JobStatus
from xxci.orchestrator.store import EventStore
from xxci.orchestrator.store.conflicts import retry_on_conflict
from xxci.orchestrator.views.load import load_run

SPEC = pipeline(job("compile", "build"), job("unit", "test"))


async def created(store: EventStore, run_id: str = "r1") -> int:
    records = await store.append(
        run_stream(run_id), 0, [RunCreated(run_id=run_id, pipeline=SPEC.to_dict(), number=1)]
    )
    return records[-1].seq


async def test_load_run_replays_the_stream_up_to_an_event(event_store: EventStore) -> None:
    first = await created(event_store)
    await event_store.append(run_stream("r1"), 1, [StageStarted("build"), JobQueued("compile")])

    now = await load_run(event_store, "r1")
    then = await load_run(event_store, "r1", up_to_seq=first)

    assert (now.version, now.jobs["compile"].status) == (3, JobStatus.QUEUED)
    assert (then.version, then.jobs["compile"].status) == (1, JobStatus.PENDING)


async def test_load_run_names_a_missing_run_in_one_way(event_store: EventStore) -> None:
    with pytest.raises(NotFoundError) as missing:
        await load_run(event_store, "nope")
    assert str(missing.value) == "no run 'nope'"

    await event_store.append(run_stream("other"), 0, [StageStarted("s")])
    await created(event_store, "late")
    with pytest.raises(NotFoundError) as not_yet:
        await load_run(event_store, "late", up_to_seq=1)
    assert str(not_yet.value) == "no run 'late' at event 1"


async def test_a_conflict_is_re_read_and_retried(event_store: EventStore) -> None:
    await created(event_store)
    stream = run_stream("r1")
    calls: list[bool] = []

    async def attempt(again: bool) -> int:
        calls.append(again)
        state = await load_run(event_store, "r1")
        if not again:  # someone else appends between our read and our append
            await event_store.append(stream, state.version, [StageStarted("build")])
        records = await event_store.append(stream, state.version, [JobQueued("compile")])
        return records[-1].version

    assert await retry_on_conflict(attempt, "run r1") == 3
    assert calls == [False, True]


async def test_a_stream_that_keeps_moving_raises_instead_of_dropping(
    event_store: EventStore,
) -> None:
    await created(event_store)
    stream = run_stream("r1")
    calls = 0

    async def attempt(_again: bool) -> None:
        nonlocal calls
        calls += 1
        version = await event_store.stream_version(stream)
        await event_store.append(stream, version, [StageStarted(f"s{calls}")])
        await event_store.append(stream, version, [JobQueued("compile")])

    with pytest.raises(ConflictError) as gave_up:
        await retry_on_conflict(attempt, "run r1", attempts=3)

    assert calls == 3
    assert str(gave_up.value) == "run r1 kept changing; the change was not recorded, try again"
    assert [r.event for r in await event_store.read_stream(stream)][-1] == StageStarted("s3")
