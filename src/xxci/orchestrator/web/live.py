"""The live feeds, as Server-Sent Events.

``GET /api/v1/events/stream?run=RUN&since=SEQ``
    Every event after ``since`` (of one run, or of the whole log), then each new one
    as it is appended: ``id`` is its seq, ``data`` its audit document plus
    ``fields``. A run's stream ends with an ``end`` event once the run has finished.

``GET /api/v1/runs/RUN/jobs/JOB/log/stream?attempt=N``
    The job's output from the start, then as it comes until the job ends (then
    ``end``): ``id`` is ``ATTEMPT:SEQ``, ``data`` ``{"attempt", "seq", "stream",
    "text"}``. Following the latest attempt moves on to a retry's.

A browser that loses the connection reconnects with ``Last-Event-ID`` and gets what
came after it, nothing twice and nothing missed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from aiohttp import web

from xxci.common.errors import UsageError
from xxci.orchestrator.views.audit import event_document, event_fields
from xxci.orchestrator.web.backend import Backend
from xxci.orchestrator.web.reads import find_job, log_chunks
from xxci.orchestrator.web.sse import Message, last_event_id, send_stream
from xxci.orchestrator.web.state import STATE, query_number

__all__ = ["event_stream", "log_stream"]


async def event_stream(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    run_ref = request.query.get("run", "").strip()
    run_id = (await state.backend.run_report(run_ref))["run_id"] if run_ref else ""
    resume = last_event_id(request)
    if resume:
        if not resume.isdigit():
            raise UsageError(f"Last-Event-ID must be an event seq, not {resume!r}")
        since = int(resume)
    else:
        since = query_number(request, "since")
    return await send_stream(request, _events(state.backend, run_id, since), state.streams)


async def _events(backend: Backend, run_id: str, since: int) -> AsyncIterator[Message]:
    async for rec in backend.events(run_id, since, True):
        doc = {**event_document(rec), "fields": event_fields(rec)}
        yield Message(json.dumps(doc, sort_keys=True), id=str(rec.seq))


async def log_stream(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    name = request.match_info["job"]
    doc = await state.backend.run_report(request.match_info["run"])
    find_job(doc, name)
    attempt = query_number(request, "attempt")
    after = _log_position(last_event_id(request))
    messages = _log(state.backend, doc["run_id"], name, attempt, after)
    return await send_stream(request, messages, state.streams)


def _log_position(resume: str) -> tuple[int, int]:
    if not resume:
        return (0, 0)
    attempt, _, seq = resume.partition(":")
    if not (attempt.isdigit() and seq.isdigit()):
        raise UsageError(f"Last-Event-ID must be ATTEMPT:SEQ, not {resume!r}")
    return int(attempt), int(seq)


async def _log(
    backend: Backend, run_id: str, job: str, attempt: int, after: tuple[int, int]
) -> AsyncIterator[Message]:
    async for chunk in log_chunks(backend.logs(run_id, job, attempt, True)):
        position = (chunk["attempt"], chunk["seq"])
        if position <= after:
            continue  # sent before the browser reconnected
        yield Message(json.dumps(chunk), id=f"{position[0]}:{position[1]}")
