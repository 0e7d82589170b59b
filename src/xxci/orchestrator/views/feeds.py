"""Followable feeds of the log: a job's output and the raw events, for audit.

What the application service streams to clients (``xxci logs``, ``xxci events``).
Following waits on the stores: every append comes from the orchestrator's own process
(one orchestrator per data directory), so it wakes the follower at once; ``poll`` is
only a back-stop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from xxci.common.api import LogPiece
from xxci.common.errors import NotFoundError
from xxci.common.events import RecordedEvent, finished_after, run_stream
from xxci.common.job_extras import service_of_stream
from xxci.orchestrator.domain.state import RunState
from xxci.orchestrator.store import EventStorage, LogStorage

__all__ = ["StateOf", "event_feed", "job_output"]

StateOf = Callable[[str], Awaitable[RunState]]
"""The current state of a run by id (NotFoundError if there is none)."""

_PAGE = 1000


async def job_output(
    state_of: StateOf,
    logs: LogStorage,
    run_id: str,
    job: str,
    attempt: int = 0,
    follow: bool = False,
    poll: float = 1.0,
    service: str = "",
) -> AsyncIterator[LogPiece]:
    """The output of ``job``'s ``attempt`` (0: the latest) in order; with ``follow``,
    then new output as it comes until the job ends (moving on to a retry's attempt
    when following the latest). With ``service``, that service's log instead (kept
    with the job's, under its own stream)."""
    state = await state_of(run_id)
    js = state.jobs.get(job)
    if js is None:
        raise NotFoundError(
            f"run {state.pipeline.name} #{state.number} has no job {job!r}"
            f" (jobs: {', '.join(state.jobs)})"
        )
    latest = max(js.attempt, 1)
    if attempt > latest:
        raise NotFoundError(
            f"job {job!r} of {state.pipeline.name} #{state.number} has no attempt {attempt}"
            f" (it has {'1 attempt' if latest == 1 else f'{latest} attempts'})"
        )
    current = attempt or latest
    after = 0
    while True:
        state = await state_of(run_id)
        js = state.jobs[job]
        done = js.finished or state.finished
        moved = not attempt and js.attempt > current
        for chunk in await logs.read(run_id, job, current, after_seq=after, limit=_PAGE):
            after = chunk.seq
            if service_of_stream(chunk.stream) == service:
                yield LogPiece(current, chunk.seq, chunk.stream, chunk.data)
        if await logs.last_seq(run_id, job, current) > after:
            continue  # more than a page: read on before deciding anything
        if moved:
            current, after = js.attempt, 0
            continue
        if not follow or done:
            return
        await logs.wait_for(run_id, job, current, after, poll)


async def event_feed(
    store: EventStorage,
    run_id: str = "",
    since_seq: int = 0,
    follow: bool = False,
    poll: float = 1.0,
) -> AsyncIterator[RecordedEvent]:
    """Events with ``seq > since_seq`` in order: of one run, or the whole log. With
    ``follow``, then new ones as they come: until the run finishes, or forever."""
    stream = run_stream(run_id) if run_id else None
    if stream is not None:
        await store.get_run(run_id)  # NotFoundError for an unknown run
    since = since_seq
    finished = False
    while True:
        last_seq = await store.last_seq()
        if stream is not None:
            records = await store.read_stream(stream)
            finished = finished_after(records)
            records = [r for r in records if r.seq > since]
        else:
            records = await store.read_all(since_seq=since, limit=_PAGE)
        for rec in records:
            since = rec.seq
            yield rec
        if stream is None and len(records) == _PAGE:
            continue  # a full page: there may be more already
        if not follow or finished:
            return
        await store.wait_for(max(since, last_seq), poll)
