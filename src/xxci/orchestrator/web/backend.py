"""What the web view asks of an orchestrator, and the answer of one in this process.

:class:`Backend` is the web edge's whole view of the orchestrator: report queries,
the status, the event and log feeds, cancel and artifact bytes. Every answer comes
from the query functions of :mod:`xxci.orchestrator.views` that ``xxci report``,
``status``, ``events`` and ``logs`` use, so a page, the JSON API and the CLI cannot
disagree. :class:`OrchestratorBackend` answers for an :class:`Orchestrator` running
in this process (``xxci server --http``); a backend over another transport needs only
the same methods.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, Protocol

from xxci.common.events import RecordedEvent
from xxci.orchestrator.runtime.orchestrator import Orchestrator
from xxci.orchestrator.views.feeds import LogPiece, event_feed, job_output
from xxci.orchestrator.views.queries import ReportQuery, query_report, resolve_run

__all__ = ["FOLLOW_POLL_SECONDS", "Backend", "CancelAnswer", "OrchestratorBackend"]

FOLLOW_POLL_SECONDS = 1.0
"""How often a feed in the orchestrator's own process checks the log anyway (an
append there wakes it at once)."""


Events = AsyncGenerator[RecordedEvent, None]
Pieces = AsyncGenerator[LogPiece, None]
Chunks = AsyncGenerator[bytes, None]


@dataclass(frozen=True)
class CancelAnswer:
    """Whether a cancel was recorded, and what to tell the user."""

    accepted: bool
    message: str


class Backend(Protocol):
    """The orchestrator as the web view sees it. ``run`` is a run id or PIPELINE#N;
    errors are :class:`~xxci.common.errors.XxciError` (NotFoundError, UsageError)."""

    async def report(self, query: ReportQuery) -> dict[str, Any]:
        """The document of ``xxci report`` for ``query``."""
        ...

    async def run_report(self, run: str, at_seq: int = 0) -> dict[str, Any]:
        """One run's report (as it stood after event ``at_seq``, 0: now): the document of
        ``xxci report --pipeline P --run N [--at SEQ]``."""
        ...

    async def status(self) -> dict[str, Any]:
        """The document of ``xxci status``."""
        ...

    async def pipelines(self) -> list[str]:
        """Names of the pipelines that have runs, sorted."""
        ...

    async def last_seq(self) -> int:
        """The position of the newest event of the log."""
        ...

    def events(self, run: str, since_seq: int, follow: bool) -> Events:
        """Events after ``since_seq`` (of one run, or all: ``run`` empty); with ``follow``,
        then new ones, until the run finishes (or forever)."""
        ...

    def logs(self, run: str, job: str, attempt: int, follow: bool) -> Pieces:
        """A job's output in order (attempt 0: the latest); with ``follow``, until the
        job ends."""
        ...

    async def cancel(self, run: str, job: str = "") -> CancelAnswer:
        """Cancel the run, or one job of it."""
        ...

    def blob(self, digest: str) -> Chunks:
        """The bytes of a stored blob (an artifact archive)."""
        ...


class OrchestratorBackend:
    """:class:`Backend` over an :class:`Orchestrator` of this process."""

    def __init__(self, orchestrator: Orchestrator, poll: float = FOLLOW_POLL_SECONDS) -> None:
        self._o = orchestrator
        self._poll = poll

    async def report(self, query: ReportQuery) -> dict[str, Any]:
        return await query_report(self._o.store, self._o.reports, query)

    async def run_report(self, run: str, at_seq: int = 0) -> dict[str, Any]:
        row = await self._o.store.get_run(await resolve_run(self._o.store, run))
        query = ReportQuery(pipeline=row.pipeline, run=row.number, at_seq=at_seq)
        return await query_report(self._o.store, self._o.reports, query)

    async def status(self) -> dict[str, Any]:
        return self._o.status()

    async def pipelines(self) -> list[str]:
        return await self._o.store.pipelines()

    async def last_seq(self) -> int:
        return await self._o.store.last_seq()

    async def events(self, run: str, since_seq: int, follow: bool) -> Events:
        run_id = await resolve_run(self._o.store, run) if run else ""
        async for rec in event_feed(self._o.store, run_id, since_seq, follow, self._poll):
            yield rec

    async def logs(self, run: str, job: str, attempt: int, follow: bool) -> Pieces:
        run_id = await resolve_run(self._o.store, run)
        output = job_output(
            self._o.runs.get, self._o.logs, run_id, job, attempt, follow, self._poll
        )
        async for piece in output:
            yield piece

    async def cancel(self, run: str, job: str = "") -> CancelAnswer:
        run_id = await resolve_run(self._o.store, run)
        decision = await self._o.cancel(run_id, job, reason="requested by user")
        return CancelAnswer(decision.accepted, decision.message)

    async def blob(self, digest: str) -> Chunks:
        async for chunk in self._o.blobs.read_chunks(digest):
            yield chunk
