"""The JSON API under ``/api/v1/``: the documents the CLI prints, over HTTP.

    GET  /api/v1/runs?pipeline=&branch=&status=&page=&per_page=
                                      xxci report [--pipeline P] --format json, a page of
                                      it, each run with its stages, plus "page"
    GET  /api/v1/runs/RUN?at=SEQ      xxci report --pipeline P --run N [--at SEQ]
    GET  /api/v1/runs/RUN/jobs/JOB    xxci report --pipeline P --run N --stage S --job J
    GET  /api/v1/runs/RUN/jobs/JOB/log?attempt=N
                                      xxci logs RUN JOB, as {"chunks": [...]}
    POST /api/v1/runs/RUN/cancel      xxci cancel RUN [JOB] (form or JSON ``job``)
    GET  /api/v1/workers              xxci status --format json
    GET  /api/v1/events?run=&since=&type=&limit=
                                      xxci events --format json, as {"events": [...]}
    GET  /api/v1/events/stream, /api/v1/runs/RUN/jobs/JOB/log/stream   (SSE, see live)

RUN is a run id or ``PIPELINE#N`` (``%23`` in a URL). Errors are ``{"error": "..."}``
with 400 (a bad parameter), 401 (no or a wrong token), 404 (no such thing) or 409
(nothing left to cancel).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from xxci.common.api import ReportQuery
from xxci.orchestrator.web.reads import (
    EVENTS_PER_PAGE,
    RUNS_PER_PAGE,
    RunFilters,
    find_job,
    log_chunks,
    read_events,
    runs_page,
)
from xxci.orchestrator.web.state import STATE, query_number

__all__ = ["cancel", "events", "job", "log", "run", "runs", "workers"]


async def runs(request: web.Request) -> web.StreamResponse:
    backend = request.app[STATE].backend
    filters = RunFilters.from_query(
        request.query,
        page=query_number(request, "page", 1, minimum=1),
        per_page=query_number(request, "per_page", RUNS_PER_PAGE, minimum=1),
    )
    doc, older = await runs_page(backend, filters)
    page = {"number": filters.page, "per_page": filters.per_page, "older": older}
    return web.json_response({**doc, "page": page})


async def run(request: web.Request) -> web.StreamResponse:
    backend = request.app[STATE].backend
    at = query_number(request, "at")
    return web.json_response(await backend.run_report(request.match_info["run"], at))


async def job(request: web.Request) -> web.StreamResponse:
    backend = request.app[STATE].backend
    doc = await backend.run_report(request.match_info["run"])
    stage, found = find_job(doc, request.match_info["job"])
    query = ReportQuery(
        pipeline=doc["pipeline"], run=doc["number"], stage=stage["name"], job=found["name"]
    )
    return web.json_response(await backend.report(query))


async def log(request: web.Request) -> web.StreamResponse:
    backend = request.app[STATE].backend
    ref, name = request.match_info["run"], request.match_info["job"]
    doc = await backend.run_report(ref)
    find_job(doc, name)
    attempt = query_number(request, "attempt")
    pieces = backend.logs(doc["run_id"], name, attempt, False)
    chunks: list[dict[str, Any]] = [chunk async for chunk in log_chunks(pieces)]
    shown = chunks[-1]["attempt"] if chunks else attempt or None
    return web.json_response(
        {"run_id": doc["run_id"], "job": name, "attempt": shown, "chunks": chunks}
    )


async def cancel(request: web.Request) -> web.StreamResponse:
    backend = request.app[STATE].backend
    job_name = request.query.get("job", "")
    if request.content_type == "application/json" and request.can_read_body:
        body = await request.json()
        if isinstance(body, dict):
            job_name = str(body.get("job", job_name))
    elif request.can_read_body:
        job_name = str((await request.post()).get("job", job_name))
    answer = await backend.cancel(request.match_info["run"], job_name)
    return web.json_response(
        {"accepted": answer.accepted, "message": answer.message},
        status=200 if answer.accepted else 409,
    )


async def workers(request: web.Request) -> web.StreamResponse:
    return web.json_response(await request.app[STATE].backend.status())


async def events(request: web.Request) -> web.StreamResponse:
    backend = request.app[STATE].backend
    run_ref = request.query.get("run", "").strip()
    run_id = (await backend.run_report(run_ref))["run_id"] if run_ref else ""
    page = await read_events(
        backend,
        run_id,
        query_number(request, "since"),
        request.query.get("type", "").strip(),
        query_number(request, "limit", EVENTS_PER_PAGE, minimum=1),
    )
    return web.json_response({"events": page.events, "next_since": page.next_since})
