"""The run index contract (every backend): per-pipeline numbers, written with RunCreated."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from xxci.common.errors import ConflictError, NotFoundError
from xxci.common.events import (
    JobPlayed,
    RunCreated,
    RunFinished,
    RunReopened,
    StageStarted,
    run_stream,
)
from xxci.orchestrator.store import EventStorage, RunRow

from .conftest import Backend


def make(run_id: str, pipeline: str, repo: str = "/repo") -> Callable[[int], RunCreated]:
    def build(number: int) -> RunCreated:
        return RunCreated(
            run_id=run_id,
            pipeline={"name": pipeline, "stages": ["build"], "jobs": []},
            number=number,
            repo=repo,
            branch="main",
            commit=f"c-{run_id}",
        )

    return build


async def test_numbers_count_per_pipeline(event_store: EventStorage) -> None:
    assert await event_store.next_run_number("build") == 1
    (first,) = await event_store.append_run_created("r1", make("r1", "build"))
    (second,) = await event_store.append_run_created("r2", make("r2", "build"))
    (other,) = await event_store.append_run_created("r3", make("r3", "deploy"))

    assert isinstance(first.event, RunCreated) and first.event.number == 1
    assert isinstance(second.event, RunCreated) and second.event.number == 2
    assert isinstance(other.event, RunCreated) and other.event.number == 1
    assert first.stream == run_stream("r1") and first.version == 1
    assert await event_store.next_run_number("build") == 3
    assert [r.event for r in await event_store.read_stream(run_stream("r2"))] == [second.event]

    row = await event_store.get_run("r2")
    assert row == RunRow(
        run_id="r2",
        stream="run:r2",
        pipeline="build",
        number=2,
        repo="/repo",
        branch="main",
        commit="c-r2",
        created_seq=second.seq,
        created_at=second.at,
    )


async def test_concurrent_submissions_get_distinct_gapless_numbers(
    event_store: EventStorage, backend: Backend
) -> None:
    other = await backend.open_events()  # a second process on the same file
    try:
        stores = [event_store, other]
        recorded = await asyncio.gather(
            *(stores[i % 2].append_run_created(f"r{i}", make(f"r{i}", "build")) for i in range(30))
        )
    finally:
        await other.close()
    numbers = sorted(r.event.number for (r,) in recorded if isinstance(r.event, RunCreated))
    assert numbers == list(range(1, 31))
    assert [r.number for r in await event_store.find_runs(pipeline="build")] == numbers


async def test_failed_submission_takes_no_number(event_store: EventStorage) -> None:
    await event_store.append_run_created("r1", make("r1", "build"))

    with pytest.raises(ConflictError):  # the run's stream exists already
        await event_store.append_run_created("r1", make("r1", "build"))

    calls: list[int] = []

    def fails_inside_the_transaction(number: int) -> RunCreated:
        calls.append(number)
        if number > 0:
            raise RuntimeError("spec could not be resolved")
        return make("r8", "build")(number)

    with pytest.raises(RuntimeError):
        await event_store.append_run_created("r8", fails_inside_the_transaction)
    assert calls == [0, 2]  # probed for the pipeline name, then called with the number
    with pytest.raises(ValueError, match="expected 'r9'"):
        await event_store.append_run_created("r9", make("r1", "build"))

    assert await event_store.next_run_number("build") == 2
    assert [r.run_id for r in await event_store.find_runs()] == ["r1"]
    assert await event_store.streams("run:") == ["run:r1"]


async def test_plain_append_of_run_created_is_indexed_atomically(event_store: EventStorage) -> None:
    await event_store.append(run_stream("a"), 0, [make("a", "build")(1), StageStarted("s")])
    assert [r.run_id for r in await event_store.find_runs(pipeline="build", number=1)] == ["a"]

    with pytest.raises(
        ConflictError, match=r"(?i)stale append to stream .run:b.: .*unique"
    ):  # number 1 is taken
        await event_store.append(run_stream("b"), 0, [make("b", "build")(1)])
    assert await event_store.read_stream(run_stream("b")) == []

    with pytest.raises(ValueError, match="first event"):
        await event_store.append(run_stream("a"), 2, [make("a", "build")(2)])
    with pytest.raises(ValueError, match="first event"):
        await event_store.append(run_stream("elsewhere"), 0, [make("c", "build")(2)])


async def test_find_runs_filters(event_store: EventStorage) -> None:
    for run_id, pipeline, repo in [
        ("r1", "build", "/a"),
        ("r2", "build", "/b"),
        ("r3", "deploy", "/a"),
        ("r4", "build", "/a"),
    ]:
        await event_store.append_run_created(run_id, make(run_id, pipeline, repo))

    def ids(rows: list[RunRow]) -> list[str]:
        return [r.run_id for r in rows]

    assert ids(await event_store.find_runs()) == ["r1", "r2", "r3", "r4"]
    assert ids(await event_store.find_runs(repo="/a")) == ["r1", "r3", "r4"]
    assert ids(await event_store.find_runs(repo="/a", pipeline="build")) == ["r1", "r4"]
    assert ids(await event_store.find_runs(pipeline="build", number=2)) == ["r2"]
    assert ids(await event_store.find_runs(pipeline="build", limit=2)) == ["r2", "r4"]
    assert await event_store.find_runs(repo="/nowhere") == []
    with pytest.raises(NotFoundError):
        await event_store.get_run("nope")


async def test_live_runs_are_those_without_a_run_finished(event_store: EventStorage) -> None:
    for run_id in ("r1", "r2", "r3"):
        await event_store.append_run_created(run_id, make(run_id, "build"))
    assert [r.run_id for r in await event_store.live_runs()] == ["r1", "r2", "r3"]

    await event_store.append(run_stream("r2"), 1, [RunFinished("NOT-A-STATUS")])  # ignored
    [finished] = await event_store.append(run_stream("r2"), 2, [RunFinished("SUCCESS")])
    await event_store.append(run_stream("r2"), 3, [RunFinished("FAILED")])  # the first counts
    await event_store.append(
        run_stream("r4"), 0, [make("r4", "build")(4), StageStarted("s"), RunFinished("CANCELED")]
    )

    assert [r.run_id for r in await event_store.live_runs()] == ["r1", "r3"]
    [r2] = await event_store.find_runs(pipeline="build", number=2)
    [r4] = await event_store.find_runs(pipeline="build", number=4)
    assert (r2.finished_seq, r4.finished_seq) == (finished.seq, r4.created_seq + 2)
    assert {r.run_id: r.finished_seq for r in await event_store.live_runs()} == {
        "r1": None,
        "r3": None,
    }
    before = await event_store.find_runs()
    assert await event_store.rebuild_run_index() == 4
    assert await event_store.find_runs() == before


async def test_a_reopened_run_is_live_until_it_finishes_again(event_store: EventStorage) -> None:
    stream = run_stream("r1")
    await event_store.append_run_created("r1", make("r1", "build"))
    await event_store.append(stream, 1, [RunFinished("SUCCESS")])
    assert await event_store.live_runs() == []

    await event_store.append(stream, 2, [RunReopened(job="deploy"), JobPlayed(job="deploy")])
    assert [(r.run_id, r.finished_seq) for r in await event_store.live_runs()] == [("r1", None)]
    before = await event_store.find_runs()
    assert await event_store.rebuild_run_index() == 1
    assert await event_store.find_runs() == before

    [again] = await event_store.append(stream, 4, [RunFinished("FAILED")])
    assert await event_store.live_runs() == []
    [row] = await event_store.find_runs()
    assert row.finished_seq == again.seq
    assert await event_store.rebuild_run_index() == 1
    assert await event_store.find_runs() == [row]
