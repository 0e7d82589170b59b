"""The HTML pages: runs, a run (with time travel), a job's log, workers, events.

Each handler reads through :mod:`.reads` (the backend's report documents) and renders
a template. A page that updates live also answers ``?fragment=1`` with just the part
that changes, which its script fetches again when an event says it changed.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from aiohttp import web

from xxci.common.api import RUN_STATUSES
from xxci.common.errors import NotFoundError
from xxci.common.events import EVENT_TYPES
from xxci.orchestrator.web.reads import (
    RUNS_PER_PAGE,
    RunFilters,
    artifacts_by_attempt,
    find_job,
    needs_of,
    read_events,
    runs_page,
    timeline_entry,
)
from xxci.orchestrator.web.state import STATE, query_number, render

__all__ = [
    "artifacts",
    "board",
    "cancel",
    "events",
    "home",
    "job",
    "raw_log",
    "run",
    "runs",
    "workers",
]

T = TypeVar("T")

_UNSAFE_IN_NAMES = re.compile(r"[^A-Za-z0-9._-]+")


def _fragment(request: web.Request) -> str:
    return request.query.get("fragment", "")


def _link(path: str, params: Mapping[str, object]) -> str:
    """``path?params`` with the empty ones left out."""
    kept = {k: str(v) for k, v in params.items() if v not in ("", None)}
    return f"{path}?{urlencode(kept)}" if kept else path


async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/runs")


async def runs(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    filters = RunFilters.from_query(
        request.query,
        page=query_number(request, "page", 1, minimum=1),
        per_page=query_number(request, "per_page", RUNS_PER_PAGE, minimum=1),
    )
    try:
        doc, older = await runs_page(state.backend, filters)
        problem = ""
    except NotFoundError as err:  # a pipeline with no runs: say so on the page
        doc, older, problem = {"runs": []}, False, str(err)
    shown = {"pipeline": filters.pipeline, "branch": filters.branch, "status": filters.status}
    if filters.per_page != RUNS_PER_PAGE:
        shown["per_page"] = str(filters.per_page)

    def page_link(number: int) -> str:
        return _link("/runs", {**shown, "page": number if number > 1 else ""})

    context: dict[str, Any] = {
        "runs": doc["runs"][::-1],
        "filters": filters,
        "older": older,
        "problem": problem,
        "now": state.clock(),
        "page_link": page_link,
    }
    if _fragment(request):
        return render(request, "runs_table.html", **context)
    return render(
        request,
        "runs.html",
        pipelines=await state.backend.pipelines(),
        statuses=RUN_STATUSES,
        last_seq=await state.backend.last_seq(),
        live_src=_link("/runs", {**shown, "page": filters.page, "fragment": 1}),
        **context,
    )


async def _run_context(request: web.Request) -> dict[str, Any]:
    state = request.app[STATE]
    at = query_number(request, "at")
    doc = await state.backend.run_report(request.match_info["run"], at)
    records = [rec async for rec in state.backend.events(doc["run_id"], 0, False)]
    timeline = [timeline_entry(rec) for rec in records]
    live = not at or not timeline or at >= timeline[-1]["seq"]
    before = [i for i, entry in enumerate(timeline) if live or entry["seq"] <= at]
    return {
        "run": doc,
        "needs": needs_of(records),
        "timeline": timeline,
        "position": before[-1] if before else 0,
        "at": 0 if live else at,
        "now": state.clock(),
    }


async def run(request: web.Request) -> web.StreamResponse:
    return render(request, "run.html", **await _run_context(request))


async def board(request: web.Request) -> web.StreamResponse:
    return render(request, "board.html", **await _run_context(request))


async def cancel(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    form = await request.post()
    ref = request.match_info["run"]
    answer = await state.backend.cancel(ref, str(form.get("job", "")))
    if not answer.accepted:
        return render(
            request, "error.html", status=409, title="Not canceled", message=answer.message
        )
    raise web.HTTPSeeOther(f"/runs/{quote(ref, safe='')}")


async def job(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    name = request.match_info["job"]
    doc = await state.backend.run_report(request.match_info["run"])
    stage, found = find_job(doc, name)
    latest = max(found["attempt"], 1)
    attempt = query_number(request, "attempt", latest, minimum=1)
    if attempt > latest:
        raise NotFoundError(
            f"job {name!r} of {doc['pipeline']} #{doc['number']} has no attempt {attempt}"
            f" (it has {latest})"
        )
    context: dict[str, Any] = {
        "run": doc,
        "stage": stage,
        "job": found,
        "attempt": attempt,
        "now": state.clock(),
    }
    if _fragment(request):
        return render(request, "job_head.html", **context)
    records = [rec async for rec in state.backend.events(doc["run_id"], 0, False)]
    base = f"/runs/{quote(doc['run_id'], safe='')}/jobs/{quote(name, safe='')}"
    follow = 0 if "attempt" not in request.query else attempt  # the latest: on to retries
    return render(
        request,
        "job.html",
        artifacts=sorted(artifacts_by_attempt(records, name).items()),
        attempts=list(range(1, latest + 1)),
        head_src=_link(base, {"fragment": 1}),
        log_stream=_link(f"/api/v1{base}/log/stream", {"attempt": follow}),
        **context,
    )


def _file_name(*parts: object) -> str:
    return "-".join(_UNSAFE_IN_NAMES.sub("_", str(p)) for p in parts)


async def raw_log(request: web.Request) -> web.StreamResponse:
    """The job's output as stored (bytes, in order), as a file to save."""
    state = request.app[STATE]
    name = request.match_info["job"]
    doc = await state.backend.run_report(request.match_info["run"])
    find_job(doc, name)
    attempt = query_number(request, "attempt", 0)
    pieces = state.backend.logs(doc["run_id"], name, attempt, False)
    first = await anext(pieces, None)
    shown = first.attempt if first is not None else attempt or 1
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/plain; charset=utf-8",
            "Content-Disposition": 'attachment; filename="'
            + _file_name(doc["pipeline"], doc["number"], name, f"attempt{shown}")
            + '.log"',
        }
    )
    data = pieces if first is None else _chained(first, pieces)
    return await _send(request, response, (piece.data async for piece in data))


async def artifacts(request: web.Request) -> web.StreamResponse:
    """An attempt's artifact archive (a gzip-compressed tar), as a file to save."""
    state = request.app[STATE]
    name = request.match_info["job"]
    doc = await state.backend.run_report(request.match_info["run"])
    _, found = find_job(doc, name)
    try:
        attempt = int(request.match_info["attempt"])
    except ValueError:
        raise NotFoundError(f"no attempt {request.match_info['attempt']!r}") from None
    records = [rec async for rec in state.backend.events(doc["run_id"], 0, False)]
    digest = artifacts_by_attempt(records, name).get(attempt)
    if digest is None:
        raise NotFoundError(f"attempt {attempt} of job {name!r} left no artifacts")
    chunks = state.backend.blob(digest)
    first = await anext(chunks)  # a missing blob fails here, before the answer starts
    # Named as GitLab names the archive (``artifacts: name``), after the run and attempt.
    named = found.get("artifacts_name") or "artifacts"
    filename = _file_name(doc["pipeline"], doc["number"], name, f"attempt{attempt}", named)
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/gzip",
            "Content-Disposition": f'attachment; filename="{filename}.tar.gz"',
        }
    )
    return await _send(request, response, _chained(first, chunks))


async def _chained(first: T, rest: AsyncIterator[T]) -> AsyncIterator[T]:
    yield first
    async for item in rest:
        yield item


async def _send(
    request: web.Request, response: web.StreamResponse, chunks: AsyncIterator[bytes]
) -> web.StreamResponse:
    """Stream ``chunks`` as the body of ``response``; a reader that leaves early only
    ends the download."""
    await response.prepare(request)
    with contextlib.suppress(ConnectionError):
        async for chunk in chunks:
            await response.write(chunk)
        await response.write_eof()
    return response


async def workers(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    doc = await state.backend.status()
    if _fragment(request):
        return render(request, "workers_body.html", status_doc=doc, now=state.clock())
    last_seq = await state.backend.last_seq()
    return render(request, "workers.html", status_doc=doc, now=state.clock(), last_seq=last_seq)


async def events(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    run_ref = request.query.get("run", "").strip()
    kind = request.query.get("type", "").strip()
    since = query_number(request, "since", -1, minimum=-1)
    if since < 0:
        since = 0 if run_ref else max(0, await state.backend.last_seq() - 200)
    run_id = ""
    if run_ref:
        run_id = (await state.backend.run_report(run_ref))["run_id"]
    page = await read_events(state.backend, run_id, since, kind)
    context: dict[str, Any] = {"events": page.events, "next_since": page.next_since}
    if _fragment(request):
        return render(request, "event_rows.html", **context)
    last = page.events[-1]["seq"] if page.events else since
    if page.next_since is None:
        last = max(last, await state.backend.last_seq()) if not run_id else last

    def events_link(start: int) -> str:
        return _link("/events", {"run": run_ref, "type": kind, "since": start})

    return render(
        request,
        "events.html",
        run_ref=run_ref,
        kind=kind,
        kinds=list(EVENT_TYPES),
        since=since,
        events_link=events_link,
        rows_src=_link("/events", {"run": run_id, "type": kind, "fragment": 1}),
        rows_stream=_link("/api/v1/events/stream", {"run": run_id, "since": last}),
        **context,
    )
