"""What the pages and the API read, built from the backend's report documents and
events: a page of runs, a run's timeline and ``needs``, a job's artifacts, a slice
of the event log. Pages and API call these same functions."""

from __future__ import annotations

import codecs
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from xxci.common.api import RUN_STATUSES, LogPiece, ReportQuery
from xxci.common.errors import NotFoundError, UsageError
from xxci.common.events import EVENT_TYPES, JobFinished, RecordedEvent, RunCreated
from xxci.orchestrator.views.audit import event_document, event_fields
from xxci.orchestrator.web.backend import Backend

__all__ = [
    "EVENTS_PER_PAGE",
    "RUNS_PER_PAGE",
    "EventSlice",
    "RunFilters",
    "artifacts_by_attempt",
    "find_job",
    "log_chunks",
    "needs_of",
    "read_events",
    "runs_page",
    "timeline_entry",
]

RUNS_PER_PAGE = 50
MAX_PER_PAGE = 500
EVENTS_PER_PAGE = 500
EVENTS_SCANNED = 5000
"""At most this many events are read for one page of a type-filtered event list."""


@dataclass(frozen=True)
class RunFilters:
    """The runs page's and ``/api/v1/runs``' filters, and which page of them."""

    pipeline: str = ""
    branch: str = ""
    status: str = ""
    page: int = 1
    per_page: int = RUNS_PER_PAGE

    @classmethod
    def from_query(cls, query: Mapping[str, str], page: int, per_page: int) -> RunFilters:
        status = query.get("status", "").strip().upper()
        if status and status not in RUN_STATUSES:
            raise UsageError(f"status must be one of {', '.join(RUN_STATUSES)}, not {status!r}")
        if per_page > MAX_PER_PAGE:
            raise UsageError(f"per_page must be at most {MAX_PER_PAGE}, not {per_page}")
        return cls(
            pipeline=query.get("pipeline", "").strip(),
            branch=query.get("branch", "").strip(),
            status=status,
            page=page,
            per_page=per_page,
        )


async def runs_page(backend: Backend, filters: RunFilters) -> tuple[dict[str, Any], bool]:
    """``xxci report --pipeline P --branch B --status S`` cut to one page (newest
    first pages; the runs of a page oldest first, as ``xxci report`` lists them), and
    whether older runs follow. Level ``pipeline`` (each run with its stages)."""
    query = ReportQuery(
        pipeline=filters.pipeline,
        branch=filters.branch,
        status=filters.status,
        skip=(filters.page - 1) * filters.per_page,
        last=filters.per_page + 1,
        stages=True,
    )
    doc = await backend.report(query)
    runs: list[dict[str, Any]] = doc["runs"]
    older = len(runs) > filters.per_page
    return {**doc, "runs": runs[1:] if older else runs}, older


def needs_of(records: Sequence[RecordedEvent]) -> dict[str, list[str]]:
    """Each job's ``needs``, from the resolved pipeline of the run's ``RunCreated``."""
    first = records[0].event if records else None
    if not isinstance(first, RunCreated):
        return {}
    jobs = first.pipeline.get("jobs", [])
    return {str(j["name"]): [str(n) for n in j.get("needs", [])] for j in jobs}


def timeline_entry(rec: RecordedEvent) -> dict[str, Any]:
    """An event as the time-travel slider names it."""
    return {"seq": rec.seq, "type": rec.event.type, "fields": event_fields(rec), "at": _at(rec)}


def _at(rec: RecordedEvent) -> str:
    return rec.at.isoformat()


def artifacts_by_attempt(records: Sequence[RecordedEvent], job: str) -> dict[int, str]:
    """The artifact archive (blob digest) each attempt of ``job`` left, by attempt."""
    found: dict[int, str] = {}
    for rec in records:
        event = rec.event
        if isinstance(event, JobFinished) and event.job == job and event.artifacts_blob:
            found[event.attempt] = event.artifacts_blob
    return found


def find_job(doc: Mapping[str, Any], name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stage and job documents of job ``name`` in a run report."""
    for stage in doc["stages"]:
        for job in stage["jobs"]:
            if job["name"] == name:
                return stage, job
    names = ", ".join(j["name"] for s in doc["stages"] for j in s["jobs"])
    raise NotFoundError(
        f"run {doc['pipeline']} #{doc['number']} has no job {name!r} (jobs: {names})"
    )


@dataclass(frozen=True)
class EventSlice:
    """Events of a page, and where the next page starts (None: this was the end)."""

    events: list[dict[str, Any]]
    next_since: int | None


async def read_events(
    backend: Backend, run: str, since: int, kind: str, limit: int = EVENTS_PER_PAGE
) -> EventSlice:
    """Up to ``limit`` events after ``since`` (of ``run``, of type ``kind``), each as
    its audit document with its ``fields`` line."""
    if kind and kind not in EVENT_TYPES:
        raise UsageError(f"type must be one of {', '.join(EVENT_TYPES)}, not {kind!r}")
    found: list[dict[str, Any]] = []
    scanned = 0
    last = since
    feed = backend.events(run, since, False)
    async with contextlib.aclosing(feed):
        async for rec in feed:
            scanned += 1
            last = rec.seq
            if not kind or rec.event.type == kind:
                found.append({**event_document(rec), "fields": event_fields(rec)})
            if len(found) >= limit or scanned >= EVENTS_SCANNED:
                return EventSlice(found, last)
    return EventSlice(found, None)


async def log_chunks(pieces: AsyncIterator[LogPiece]) -> AsyncIterator[dict[str, Any]]:
    """Log pieces as text (UTF-8, a character split across pieces kept whole, bad
    bytes replaced), each ``{"attempt", "seq", "stream", "text"}``."""
    decoders: dict[tuple[int, str], codecs.IncrementalDecoder] = {}
    async for piece in pieces:
        key = (piece.attempt, piece.stream)
        decoder = decoders.get(key)
        if decoder is None:
            decoder = decoders[key] = codecs.getincrementaldecoder("utf-8")("replace")
        yield {
            "attempt": piece.attempt,
            "seq": piece.seq,
            "stream": piece.stream,
            "text": decoder.decode(piece.data),
        }
