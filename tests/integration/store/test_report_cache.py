"""The report cache contract (every backend): rows used only while their stream stands."""

from __future__ import annotations

from collections.abc import Callable

from xxci.common.events import RunCreated, StageStarted, run_stream
from xxci.orchestrator.store import CachedReport, EventStorage, ReportStorage


def created(run_id: str) -> Callable[[int], RunCreated]:
    def make(number: int) -> RunCreated:
        return RunCreated(run_id, {"name": "build", "stages": ["b"], "jobs": []}, number, "/r")

    return make


async def test_a_row_is_a_hit_only_at_its_stream_version(
    event_store: EventStorage, report_cache: ReportStorage
) -> None:
    for run_id in ("r1", "r2"):
        await event_store.append_run_created(run_id, created(run_id))
    entry = CachedReport("r1", 1, 1, '{"s":1}', '{"r":1}')
    await report_cache.save([entry])

    selected = await report_cache.select(pipeline="build", detail="report")
    assert [(row.run_id, hit.document if hit else None) for row, hit in selected] == [
        ("r1", '{"r":1}'),
        ("r2", None),
    ]
    summaries = await report_cache.select(number=1)
    assert [hit.document if hit else None for _, hit in summaries] == ['{"s":1}']

    await event_store.append(run_stream("r1"), 1, [StageStarted("b")])  # the row goes stale
    assert [hit for _, hit in await report_cache.select(number=1)] == [None]
    assert await report_cache.entries() == {"r1": entry}


async def test_select_filters_limits_and_cuts_at_a_position(
    event_store: EventStorage, report_cache: ReportStorage
) -> None:
    for i in range(1, 6):
        await event_store.append_run_created(f"r{i}", created(f"r{i}"))

    assert [r.number for r, _ in await report_cache.select(limit=2)] == [4, 5]
    assert [r.number for r, _ in await report_cache.select(up_to_seq=3)] == [1, 2, 3]
    assert await report_cache.select(repo="/elsewhere") == []
    await report_cache.save([])
    assert await report_cache.entries() == {}


async def test_select_by_branch_by_ids_and_the_status_alone(
    event_store: EventStorage, report_cache: ReportStorage
) -> None:
    for i in range(1, 8):

        def make(number: int, i: int = i) -> RunCreated:
            branch = "dev" if i % 2 else "main"
            spec = {"name": "build", "stages": ["b"], "jobs": []}
            return RunCreated(f"r{i}", spec, number, "/r", branch=branch)

        await event_store.append_run_created(f"r{i}", make)
    await report_cache.save([CachedReport("r2", 1, 2, '{"status":"FAILED"}', "{}")])

    assert [r.number for r, _ in await report_cache.select(branch="main")] == [2, 4, 6]
    assert [r.number for r, _ in await report_cache.select(branch="dev", limit=2)] == [5, 7]
    chosen = await report_cache.select(run_ids=["r6", "r2", "nope"], detail="status")
    assert [(r.run_id, hit.document if hit else None) for r, hit in chosen] == [
        ("r2", "FAILED"),
        ("r6", None),
    ]
    many = [f"r{i}" for i in range(1, 8)] + [f"x{i}" for i in range(600)]
    assert len(await report_cache.select(run_ids=many, detail="none")) == 7
    assert [r.number for r, _ in await report_cache.select(run_ids=many, limit=2)] == [6, 7]
