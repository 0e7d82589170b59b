"""Pages of a listing: ``skip`` and ``last`` over the newest-first runs, with and
without a status filter, against the whole listing they cut."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from xxci.common.api import ReportQuery
from xxci.orchestrator.domain.state import RunState
from xxci.orchestrator.store import EventStore, ReportCache
from xxci.orchestrator.views.queries import query_report


async def listing(home: Path, **filters: Any) -> list[tuple[str, int]]:
    path = home / "local.db"
    async with await EventStore.open(path) as store, await ReportCache.open(path) as cache:
        doc = await query_report(store, cache, ReportQuery(**filters))
    return [(r["pipeline"], r["number"]) for r in doc["runs"]]


async def test_pages_cut_the_newest_first_listing(home: Path, history: dict[str, RunState]) -> None:
    everything = await listing(home)
    assert everything == [("build", 1), ("docs", 1), ("build", 2), ("build", 3)]
    assert await listing(home, last=2) == [("build", 2), ("build", 3)]
    assert await listing(home, last=2, skip=2) == [("build", 1), ("docs", 1)]
    assert await listing(home, last=2, skip=3) == [("build", 1)]
    assert await listing(home, skip=4) == []
    assert await listing(home, skip=1) == everything[:3]


async def test_pages_of_a_status_count_only_that_status(
    home: Path, history: dict[str, RunState]
) -> None:
    assert await listing(home, status="SUCCESS") == [("build", 1), ("build", 2)]
    assert await listing(home, status="SUCCESS", last=1) == [("build", 2)]
    assert await listing(home, status="SUCCESS", last=1, skip=1) == [("build", 1)]
    assert await listing(home, pipeline="build", status="running", last=5) == [("build", 3)]
    assert await listing(home, pipeline="build", branch="dev", skip=1) == []


async def test_a_status_filter_sees_an_uncached_log(
    home: Path, history: dict[str, RunState]
) -> None:
    """With the report cache emptied, the statuses come from replaying the runs."""
    path = home / "local.db"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("DELETE FROM report_cache")
    async with await EventStore.open(path) as store, await ReportCache.open(path) as cache:
        doc = await query_report(store, cache, ReportQuery(status="FAILED", last=10))
        assert [(r["pipeline"], r["number"]) for r in doc["runs"]] == [("docs", 1)]
        assert len(await cache.entries()) == 3, "the finished runs it replayed are cached"
