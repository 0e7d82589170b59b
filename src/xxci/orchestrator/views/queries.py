"""Answers to report queries, derived from the event log by replay.

These functions answer the application service's ``report`` (for every client, local or
remote, so every answer comes from the same code). They
read an :class:`EventStorage` (the log and its run index) and a :class:`ReportStorage`
(finished runs' reports, each valid only while its stream is unchanged): a run with no
valid cache row is replayed, and, if it has finished, its row is written for next time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from xxci.common.api import ReportQuery
from xxci.common.errors import NotFoundError, XxciError
from xxci.common.events import RecordedEvent
from xxci.orchestrator.domain.fold import replay
from xxci.orchestrator.domain.state import RunState
from xxci.orchestrator.store import CachedReport, CacheHit, EventStorage, ReportStorage, RunRow
from xxci.orchestrator.store.report_cache import Detail
from xxci.orchestrator.views.report import (
    REPORT_VERSION,
    narrow,
    run_report,
    summary_of,
)

__all__ = [
    "Folded",
    "fold_runs",
    "parse_run_ref",
    "query_report",
    "remember_finished",
    "resolve_run",
    "unfinished_runs",
]

log = logging.getLogger("xxci.orchestrator")

_RUN_REF = re.compile(r"(?P<pipeline>[^#/\s]+)[#/](?P<number>[0-9]+)")


@dataclass(frozen=True)
class Folded:
    """A run replayed from the log, with its report and summary."""

    state: RunState
    report: dict[str, Any]
    summary: dict[str, Any]

    def cache_entry(self) -> CachedReport:
        return CachedReport(
            run_id=self.state.run_id,
            version=self.state.version,
            last_seq=self.state.last_seq,
            summary=_compact(self.summary),
            report=_compact(self.report),
        )


async def query_report(
    store: EventStorage, cache: ReportStorage, query: ReportQuery
) -> dict[str, Any]:
    """The report document for ``query`` (see :mod:`xxci.orchestrator.views.report`).

    With ``run``: that one run's document. Otherwise ``{"report_version", "level",
    "at_seq", "runs": [...]}`` with the matching runs oldest first. NotFoundError names
    what does not exist; UsageError a filter that lacks the one it needs.
    """
    query.check()
    level = query.level
    at = query.at_seq or None
    detailed = level in ("run", "stage", "job")
    selected, folded = await _select(store, cache, query, at, detailed)
    if query.pipeline and not selected:
        # A listing narrowed to nothing is an empty answer, for a pipeline that exists.
        exists = query.narrowed and not query.run
        if not exists or not await store.find_runs(pipeline=query.pipeline, limit=1):
            raise NotFoundError(await _no_runs(store, query))
    docs = await _documents(store, cache, selected, at, detailed, folded)
    narrowed = (narrow(doc, level, query.stage, query.job) for doc in docs)
    runs = [doc for doc in narrowed if doc is not None]
    if query.stage and not runs and docs:
        raise NotFoundError(_missing_part(query, docs))
    if query.run:
        if not runs:
            raise NotFoundError(await _no_runs(store, query))
        return runs[0]
    return {"report_version": REPORT_VERSION, "level": level, "at_seq": at, "runs": runs}


async def unfinished_runs(store: EventStorage) -> list[RunState]:
    """Every run of the log that has not finished, oldest first (only those are read)."""
    folded = await fold_runs(store, await store.live_runs())
    return [f.state for f in folded.values() if not f.state.finished]


async def remember_finished(cache: ReportStorage, state: RunState) -> None:
    """Cache the report of a run that just finished (the orchestrator calls this at
    ``RunFinished``, so queries find every finished run cached)."""
    report = run_report(state)
    await _remember(cache, [Folded(state, report, summary_of(report))])


async def fold_runs(
    store: EventStorage, rows: Sequence[RunRow], up_to_seq: int | None = None
) -> dict[str, Folded]:
    """Replay the runs of ``rows`` (up to ``up_to_seq``), by run id, in ``rows`` order.

    The events are read in bulk and folded in a worker thread: a server answering a
    big query keeps serving its workers meanwhile.
    """
    if not rows:
        return {}
    streams = await store.read_streams([row.stream for row in rows], up_to_seq)
    ordered = [(row.run_id, streams.get(row.stream, [])) for row in rows]
    return await asyncio.to_thread(_fold_all, ordered)


def parse_run_ref(ref: str) -> tuple[str, int] | None:
    """``("example", 3)`` for ``example#3`` or ``example/3``; None for anything else
    (a run id). Pipeline names cannot hold ``#`` or ``/``, so this is unambiguous."""
    match = _RUN_REF.fullmatch(ref.strip())
    if match is None:
        return None
    return match.group("pipeline"), int(match.group("number"))


async def resolve_run(store: EventStorage, ref: str) -> str:
    """The run id ``ref`` names: a run id, or ``PIPELINE#N`` / ``PIPELINE/N``."""
    parsed = parse_run_ref(ref)
    if parsed is not None:
        pipeline, number = parsed
        # A number past what the store holds names no run (and must not reach SQL).
        rows = await store.find_runs(pipeline=pipeline, number=number) if number < 2**63 else []
        if not rows:
            raise NotFoundError(f"pipeline {pipeline!r} has no run #{number}")
        return rows[0].run_id
    try:
        return (await store.get_run(ref)).run_id
    except NotFoundError:
        raise NotFoundError(f"no run {ref!r} (name a run by its id, or as PIPELINE#N)") from None


# --- helpers ----------------------------------------------------------------------


async def _select(
    store: EventStorage, cache: ReportStorage, query: ReportQuery, at: int | None, detailed: bool
) -> tuple[list[tuple[RunRow, CacheHit | None]], dict[str, Folded]]:
    """The runs ``query`` names, oldest first, each with its cache hit; and those a
    status filter had to replay on the way (by run id)."""
    detail: Detail = "report" if detailed else "summary"
    filters: dict[str, Any] = {
        "repo": query.repo or None,
        "pipeline": query.pipeline or None,
        "number": query.run or None,
        "branch": query.branch or None,
        "up_to_seq": at,
    }
    if not (query.status or query.skip):
        return await cache.select(**filters, limit=query.last or None, detail=detail), {}
    # A status is known from the cache for finished runs; the others are replayed.
    candidates = await cache.select(**filters, detail="status" if query.status else "none")
    newest_first = candidates[::-1]
    folded: dict[str, Folded] = {}
    if query.status:
        unknown = [row for row, hit in newest_first if not _usable(hit, at)]
        folded = await fold_runs(store, unknown, at)
        if at is None:
            await _remember(cache, folded.values())
        wanted = query.status.upper()

        def status_of(row: RunRow, hit: CacheHit | None) -> str | None:
            if hit is not None and _usable(hit, at):
                return hit.document
            found = folded.get(row.run_id)
            return str(found.report["status"]) if found is not None else None

        newest_first = [(row, hit) for row, hit in newest_first if status_of(row, hit) == wanted]
    page = newest_first[query.skip :][: query.last or None]
    ids = [row.run_id for row, _ in page]
    chosen = await cache.select(run_ids=ids, up_to_seq=at, detail=detail) if ids else []
    return chosen, {run_id: f for run_id, f in folded.items() if run_id in ids}


def _usable(hit: CacheHit | None, at: int | None) -> bool:
    """Whether a cached document is the run's as of ``at`` (it had finished by then)."""
    return hit is not None and (at is None or hit.last_seq <= at)


async def _documents(
    store: EventStorage,
    cache: ReportStorage,
    selected: Sequence[tuple[RunRow, CacheHit | None]],
    at: int | None,
    detailed: bool,
    folded: Mapping[str, Folded],
) -> list[dict[str, Any]]:
    """The report (``detailed``) or summary of each run: from the cache, from
    ``folded``, or by replay."""
    docs: dict[str, dict[str, Any]] = {}
    missing: list[RunRow] = []
    for row, hit in selected:
        if hit is not None and _usable(hit, at):
            docs[row.run_id] = json.loads(hit.document)
        elif row.run_id in folded:
            f = folded[row.run_id]
            docs[row.run_id] = f.report if detailed else f.summary
        else:
            missing.append(row)
    if missing:
        replayed = await fold_runs(store, missing, at)
        for run_id, f in replayed.items():
            docs[run_id] = f.report if detailed else f.summary
        if at is None:  # a replay cut at ``at`` is not the run's final word
            await _remember(cache, replayed.values())
    return [docs[row.run_id] for row, _ in selected if row.run_id in docs]


def _fold_all(streams: Sequence[tuple[str, list[RecordedEvent]]]) -> dict[str, Folded]:
    folded: dict[str, Folded] = {}
    for run_id, records in streams:
        if not records:
            continue
        try:
            state = replay(records)
        except ValueError as err:
            raise XxciError(
                f"run {run_id}: its events do not replay ({err}); `xxci verify` checks the log"
            ) from err
        report = run_report(state)
        folded[run_id] = Folded(state, report, summary_of(report))
    return folded


async def _remember(cache: ReportStorage, folded: Iterable[Folded]) -> None:
    """Cache the reports of finished runs; best effort (the answer stands without)."""
    entries = [f.cache_entry() for f in folded if f.state.finished]
    try:
        await cache.save(entries)
    except (sqlite3.Error, OSError) as err:
        log.warning("could not update the report cache: %s", err)


def _compact(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


async def _no_runs(store: EventStorage, query: ReportQuery) -> str:
    where = f" in repository {query.repo!r}" if query.repo else ""
    if query.run:
        if query.at_seq and await store.find_runs(pipeline=query.pipeline, number=query.run):
            return (
                f"pipeline {query.pipeline!r} had no run #{query.run}{where}"
                f" yet at event {query.at_seq}"
            )
        return f"pipeline {query.pipeline!r} has no run #{query.run}{where}{_such(query)}"
    when = f" at event {query.at_seq}" if query.at_seq else ""
    known = await store.pipelines(query.repo or None)
    hint = f" (pipelines with runs: {', '.join(known)})" if known else ""
    return f"no runs of pipeline {query.pipeline!r}{where}{when}{hint}"


def _such(query: ReportQuery) -> str:
    """The branch and status filters, as words: `` on branch 'main' with status FAILED``."""
    words = f" on branch {query.branch!r}" if query.branch else ""
    return words + (f" with status {query.status.upper()}" if query.status else "")


def _missing_part(query: ReportQuery, docs: Sequence[dict[str, Any]]) -> str:
    """What ``--stage``/``--job`` named that the runs do not have, and what they do."""
    owner = f"pipeline {query.pipeline!r}"
    if query.run:
        owner = f"run #{query.run} of {owner}"
    stages = _unique(s["name"] for doc in docs for s in doc["stages"])
    if query.stage not in stages:
        return f"{owner} has no stage {query.stage!r} (stages: {', '.join(stages) or 'none'})"
    jobs = _unique(
        j["name"]
        for doc in docs
        for s in doc["stages"]
        if s["name"] == query.stage
        for j in s["jobs"]
    )
    elsewhere = _unique(
        s["name"]
        for doc in docs
        for s in doc["stages"]
        for j in s["jobs"]
        if j["name"] == query.job
    )
    hint = f"it is in stage {elsewhere[0]!r}" if elsewhere else f"jobs: {', '.join(jobs)}"
    return f"stage {query.stage!r} of {owner} has no job {query.job!r} ({hint})"


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))
