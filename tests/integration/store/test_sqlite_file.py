"""The SQLite backend's own file: what the contract suite cannot see from outside."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from xxci.common.events import JobFinished, JobQueued, RunFinished, StageStarted, run_stream
from xxci.orchestrator.store import EventStore, LogStore

from .test_run_index import make

RUN = run_stream("r1")
T0 = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


async def test_timestamps_are_stored_as_utc_text_with_microseconds(db_path: Path) -> None:
    paris = timezone(timedelta(hours=1))
    async with await EventStore.open(db_path) as store:
        await store.append(RUN, 0, [StageStarted("s")], at=T0.astimezone(paris))

    with sqlite3.connect(db_path) as raw:
        (stored,) = raw.execute("SELECT at FROM events").fetchone()
    assert stored == "2025-01-02T03:04:05.678901+00:00"


async def test_unique_stream_version_backs_up_the_check(db_path: Path) -> None:
    """A stale insert that slipped past the version check fails on the unique index."""
    store = await EventStore.open(db_path)
    try:
        await store.append(RUN, 0, [StageStarted("build")])
    finally:
        await store.close()
    with sqlite3.connect(db_path) as raw, pytest.raises(sqlite3.IntegrityError):
        raw.execute(
            "INSERT INTO events (stream, version, type, data, at) VALUES (?, 1, 'X', '{}', '')",
            (RUN,),
        )


async def test_rebuild_gives_the_same_rows(db_path: Path) -> None:
    event_store = await EventStore.open(db_path)
    try:
        await _rebuild_gives_the_same_rows(event_store, db_path)
    finally:
        await event_store.close()


async def _rebuild_gives_the_same_rows(event_store: EventStore, db_path: Path) -> None:
    for i in range(5):
        await event_store.append_run_created(f"r{i}", make(f"r{i}", "build", f"/repo{i % 2}"))
    before = await event_store.find_runs()
    with sqlite3.connect(db_path) as raw:  # damage the index behind the store's back
        raw.execute("DELETE FROM runs WHERE run_id IN ('r1', 'r3')")
        raw.execute("UPDATE runs SET repo = 'wrong' WHERE run_id = 'r4'")

    assert await event_store.rebuild_run_index() == 5
    assert await event_store.find_runs() == before


async def test_log_from_before_the_index_gets_one_on_open(db_path: Path) -> None:
    """A file written by a version without the runs table: the index is built on open."""
    async with await EventStore.open(db_path) as store:
        await store.append_run_created("r1", make("r1", "build"))
        await store.append_run_created("r2", make("r2", "build"))
        before = await store.find_runs()
    with sqlite3.connect(db_path) as raw:
        raw.execute("DROP TABLE runs")

    async with await EventStore.open(db_path) as store:
        assert await store.find_runs() == before
        assert await store.next_run_number("build") == 3


async def test_shares_the_file_with_the_event_store(db_path: Path) -> None:
    async with await EventStore.open(db_path) as events, await LogStore.open(db_path) as logs:
        await asyncio.gather(
            *(events.append(f"run:r{i}", 0, [StageStarted("s")]) for i in range(20)),
            *(logs.append("r1", "build", 1, i, "stdout", b"x") for i in range(1, 21)),
        )
    async with await LogStore.open(db_path) as logs, await EventStore.open(db_path) as events:
        assert await logs.last_seq("r1", "build", 1) == 20
        assert await events.last_seq() == 20


async def test_old_and_new_event_shapes_decode(db_path: Path) -> None:
    """A row with a field this code does not know and without a defaulted field."""
    async with await EventStore.open(db_path):
        pass
    newer = {"job": "compile", "attempt": 1, "status": "SUCCESS", "cost_cents": 12}
    older = {"job": "compile", "stage": "build"}  # before JobQueued had "attempt"
    with sqlite3.connect(db_path) as raw:
        raw.executemany(
            "INSERT INTO events (stream, version, type, data, at) VALUES (?, ?, ?, ?, ?)",
            [
                ("run:x", 1, "JobQueued", json.dumps(older), "2025-01-01T00:00:00.000000+00:00"),
                ("run:x", 2, "JobFinished", json.dumps(newer), "2025-01-01T00:00:01.000000+00:00"),
            ],
        )

    async with await EventStore.open(db_path) as store:
        read = await store.read_stream("run:x")

    assert [r.event for r in read] == [
        JobQueued(job="compile", attempt=1),
        JobFinished(job="compile", attempt=1, status="SUCCESS"),
    ]


async def test_an_index_from_before_finished_seq_is_migrated_on_open(db_path: Path) -> None:
    async with await EventStore.open(db_path) as store:
        for run_id in ("r1", "r2", "r3"):
            await store.append_run_created(run_id, make(run_id, "build"))
        await store.append(run_stream("r2"), 1, [RunFinished("SUCCESS")])
        before = await store.find_runs()
    with sqlite3.connect(db_path) as raw:  # the shape an older xxci wrote
        raw.execute("DROP INDEX runs_live")
        raw.execute("ALTER TABLE runs DROP COLUMN finished_seq")

    async with await EventStore.open(db_path) as store:
        assert await store.find_runs() == before
        assert [r.run_id for r in await store.live_runs()] == ["r1", "r3"]


async def test_start_up_reads_live_runs_through_the_partial_index(db_path: Path) -> None:
    async with await EventStore.open(db_path):
        pass
    with sqlite3.connect(db_path) as raw:
        plan = raw.execute(
            "EXPLAIN QUERY PLAN SELECT run_id FROM runs WHERE finished_seq IS NULL"
            " ORDER BY created_seq"
        ).fetchall()
    assert "USING INDEX runs_live" in " ".join(str(step[-1]) for step in plan)
