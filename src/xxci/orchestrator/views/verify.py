"""``xxci verify``: replay the whole log and check everything derived from it.

Checked, run by run (in chunks, so memory stays flat however long the log is):

* the hash chain: every event still seals onto the one before it (the first row
  edited, inserted, deleted or reordered is named), and a given anchor still holds;
* every stream's versions run 1..n and every event decodes;
* every run stream starts with its ``RunCreated`` and replays through the fold;
* the run index holds exactly one row per ``RunCreated``, with the same facts;
* every report cache row of the stream's current version equals a fresh fold;
* with a report folder (local mode): every finished run has its file, each file equals
  the run's report, and no file is left for a run the log does not have (or that has
  not finished).

The result lists each difference as one line naming the place and the field.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xxci.common.api import VerifyResult
from xxci.common.events import RecordedEvent, RunCreated
from xxci.orchestrator.domain.fold import replay
from xxci.orchestrator.store import Anchor, CachedReport, EventStorage, ReportStorage, RunRow
from xxci.orchestrator.store.run_index import finished_seq_of, row_from_event
from xxci.orchestrator.views.queries import Folded
from xxci.orchestrator.views.report import run_report, summary_of

__all__ = ["differences", "verify_log"]

CHUNK_RUNS = 200
MAX_DIFFS_PER_DOCUMENT = 10


async def verify_log(
    store: EventStorage,
    cache: ReportStorage,
    report_dir: Path | None = None,
    anchor: Anchor | None = None,
) -> VerifyResult:
    """Check the hash chain (and ``anchor``), then every derived datum against a fresh
    replay of the log (see the module)."""
    chain = await store.check_chain(anchor)
    result = VerifyResult(
        chained=chain.events,
        head=str(chain.head) if chain.head is not None else "",
        sealed_up_to=chain.sealed_up_to,
        sealed_at=chain.sealed_at,
        anchor=str(anchor) if anchor is not None else "",
    )
    if chain.problem:
        result.problems.append(f"hash chain: {chain.problem}")
    if chain.anchor_problem:
        result.problems.append(chain.anchor_problem)
    streams = await store.streams()
    index = {row.run_id: row for row in await store.find_runs()}
    cached = await cache.entries()
    run_streams = [s for s in streams if s.startswith("run:")]
    for stream in streams:
        if not stream.startswith("run:"):
            records = await store.read_stream(stream)
            result.events += len(records)
            _check_versions(stream, records, result)
    seen_runs: set[str] = set()
    files: dict[tuple[str, int], bool] = {}  # (pipeline, number) -> finished
    for start in range(0, len(run_streams), CHUNK_RUNS):
        part = run_streams[start : start + CHUNK_RUNS]
        chunk = await store.read_streams(part)
        checked = await asyncio.to_thread(_check_runs, chunk, index, cached, report_dir)
        for run_id, pipeline, number, finished, events, problems in checked:
            seen_runs.add(run_id)
            result.runs += 1
            result.events += events
            result.problems += problems
            files[(pipeline, number)] = finished
    for run_id, row in index.items():
        if run_id not in seen_runs:
            result.problems.append(
                f"runs index: run {run_id} ({row.pipeline} #{row.number}) has no events in the log"
            )
    for run_id in cached:
        if run_id not in seen_runs:
            result.problems.append(f"report cache: run {run_id} is not in the log")
    if report_dir is not None:
        result.problems += await asyncio.to_thread(_stray_files, report_dir, files)
    return result


_Checked = tuple[str, str, int, bool, int, list[str]]
"""(run id, pipeline, number, finished, events, problems) of one run stream."""


def _check_runs(
    chunk: dict[str, list[RecordedEvent]],
    index: dict[str, RunRow],
    cached: dict[str, CachedReport],
    report_dir: Path | None,
) -> list[_Checked]:
    return [
        _check_run(stream, records, index, cached, report_dir) for stream, records in chunk.items()
    ]


def _check_run(
    stream: str,
    records: list[RecordedEvent],
    index: dict[str, RunRow],
    cached: dict[str, CachedReport],
    report_dir: Path | None,
) -> _Checked:
    run_id = stream.removeprefix("run:")
    holder = VerifyResult()
    _check_versions(stream, records, holder)
    problems = holder.problems
    first = records[0].event if records else None
    if not isinstance(first, RunCreated) or first.run_id != run_id:
        problems.append(f"{stream}: does not start with the RunCreated of run {run_id}")
        return run_id, "", 0, False, len(records), problems
    expected = dataclasses.replace(
        row_from_event(records[0]), finished_seq=finished_seq_of(records)
    )
    _check_index(run_id, expected, index.get(run_id), problems)
    try:
        state = replay(records)
    except ValueError as err:
        problems.append(f"{stream}: does not replay: {err}")
        return run_id, "", 0, False, len(records), problems
    report = run_report(state)
    folded = Folded(state, report, summary_of(report))
    name = f"{state.pipeline.name} #{state.number}"
    entry = cached.get(run_id)
    if entry is not None and entry.version == state.version:
        if not state.finished:
            problems.append(f"report cache, run {run_id} ({name}): cached, but not finished")
        fresh = folded.cache_entry()
        for label, mine, theirs in (
            ("summary", fresh.summary, entry.summary),
            ("report", fresh.report, entry.report),
        ):
            for diff in differences(json.loads(mine), _loads(theirs), "cache has"):
                problems.append(f"report cache, run {run_id} ({name}) {label}: {diff}")
    if report_dir is not None:
        _check_file(report_dir, state.pipeline.name, state.number, report, state.finished, problems)
    return run_id, state.pipeline.name, state.number, state.finished, len(records), problems


def _check_versions(stream: str, records: Sequence[RecordedEvent], result: VerifyResult) -> None:
    versions = [r.version for r in records]
    if versions != list(range(1, len(versions) + 1)):
        result.problems.append(f"{stream}: versions are not 1..{len(versions)} without gaps")


def _check_index(run_id: str, expected: RunRow, row: RunRow | None, problems: list[str]) -> None:
    if row is None:
        problems.append(
            f"runs index: no row for run {run_id} ({expected.pipeline} #{expected.number})"
        )
        return
    for f in dataclasses.fields(RunRow):
        mine, theirs = getattr(expected, f.name), getattr(row, f.name)
        if mine != theirs:
            problems.append(
                f"runs index, run {run_id}: {f.name} is {theirs!r}, {_source(f.name)} says {mine!r}"
            )


def _source(field_name: str) -> str:
    return "its RunFinished" if field_name == "finished_seq" else "its RunCreated"


def _check_file(
    report_dir: Path,
    pipeline: str,
    number: int,
    report: dict[str, Any],
    finished: bool,
    problems: list[str],
) -> None:
    path = report_dir / pipeline / f"{number}.json"
    if not finished:
        if path.exists():
            problems.append(f"{path}: a report file, but run {pipeline} #{number} has not finished")
        return
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(f"{path}: missing (run {pipeline} #{number} finished {report['status']})")
        return
    except OSError as err:
        problems.append(f"{path}: cannot be read: {err.strerror}")
        return
    try:
        stored = json.loads(text)
    except json.JSONDecodeError as err:
        problems.append(f"{path}: not valid JSON ({err})")
        return
    problems += [f"{path}: {diff}" for diff in differences(report, stored, "file has")]


def _stray_files(report_dir: Path, runs: dict[tuple[str, int], bool]) -> list[str]:
    problems = []
    for path in sorted(report_dir.glob("*/*.json")):
        try:
            key = (path.parent.name, int(path.stem))
        except ValueError:
            problems.append(f"{path}: not a report file name (<pipeline>/<run number>.json)")
            continue
        if key not in runs:
            problems.append(f"{path}: the log has no run {key[0]} #{key[1]}")
    return problems


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def differences(expected: Any, actual: Any, has: str, path: str = "") -> list[str]:
    """Where ``actual`` differs from ``expected`` (the log's value), one line each:
    ``stages[0].jobs[1].status: file has 'FAILED', the log says 'SUCCESS'``."""
    found: list[str] = []
    _diff(expected, actual, has, path, found)
    if len(found) > MAX_DIFFS_PER_DOCUMENT:
        more = len(found) - MAX_DIFFS_PER_DOCUMENT
        found = [*found[:MAX_DIFFS_PER_DOCUMENT], f"... and {more} more differences"]
    return found


def _diff(expected: Any, actual: Any, has: str, path: str, found: list[str]) -> None:
    where = path or "(document)"
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(expected.keys() | actual.keys()):
            sub = f"{path}.{key}" if path else str(key)
            if key not in actual:
                found.append(f"{sub}: missing, the log says {expected[key]!r}")
            elif key not in expected:
                found.append(f"{sub}: {has} {actual[key]!r}, the log has no such field")
            else:
                _diff(expected[key], actual[key], has, sub, found)
    elif isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            found.append(f"{where}: {has} {len(actual)} entries, the log says {len(expected)}")
        for i, (mine, theirs) in enumerate(zip(expected, actual, strict=False)):
            _diff(mine, theirs, has, f"{path}[{i}]", found)
    elif expected != actual or type(expected) is not type(actual):
        found.append(f"{where}: {has} {actual!r}, the log says {expected!r}")
