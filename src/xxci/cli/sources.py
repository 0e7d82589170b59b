"""Where ``report``, ``status``, ``logs``, ``events`` and ``verify`` get their answers.

A :class:`Source` is either an orchestrator reached over gRPC (:class:`RemoteSource`,
``--server``) or the local event log read in place (:class:`LocalSource`, ``--local``).
Both answer with the same functions (``xxci.orchestrator.views.queries``, ``.status``,
``.feeds``, ``.verify``): the remote orchestrator runs them in its process, the local
source runs them here, on ``$XXCI_HOME/local.db``.

The local source starts no orchestrator: one would resume the unfinished local runs
and append to their log. It only reads the log; the one thing it writes is the report
cache, a derived table that ``xxci verify`` checks and that can be dropped at will.
Another process (a ``xxci run --local`` in progress) may be writing the log meanwhile:
followers notice its appends by polling.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from xxci.cli.client import Client
from xxci.cli.home import xxci_home
from xxci.common.convert import log_stream_from_pb
from xxci.common.errors import NotFoundError, UsageError, XxciError
from xxci.common.events import RecordedEvent
from xxci.orchestrator.domain.state import RunState
from xxci.orchestrator.store import Anchor, EventStore, LogStore, ReportCache
from xxci.orchestrator.views.feeds import LogPiece, event_feed, job_output
from xxci.orchestrator.views.load import load_run
from xxci.orchestrator.views.queries import ReportQuery, query_report, resolve_run, unfinished_runs
from xxci.orchestrator.views.status import status_report
from xxci.orchestrator.views.verify import VerifyResult, verify_log

__all__ = ["LocalSource", "RemoteSource", "Source", "open_source"]

LOCAL_POLL_SECONDS = 0.25
"""How often a local follower reads again (the writer is another process)."""


class Source(Protocol):
    """What the reporting commands ask; ``run`` is a run id or ``PIPELINE#N``."""

    async def report(self, query: ReportQuery) -> dict[str, Any]: ...

    async def status(self) -> dict[str, Any]: ...

    def events(self, run: str, since: int, follow: bool) -> AsyncIterator[RecordedEvent]: ...

    def logs(self, run: str, job: str, attempt: int, follow: bool) -> AsyncIterator[LogPiece]: ...

    async def verify(self, anchor: Anchor | None = None) -> VerifyResult: ...


class RemoteSource:
    """An orchestrator over gRPC."""

    def __init__(self, client: Client) -> None:
        self._client = client

    async def report(self, query: ReportQuery) -> dict[str, Any]:
        return await self._client.query(
            repo=query.repo,
            pipeline=query.pipeline,
            run_number=query.run,
            stage=query.stage,
            job=query.job,
            at_seq=query.at_seq,
            limit=query.last,
            branch=query.branch,
            status=query.status,
            skip=query.skip,
            stages=query.stages,
        )

    async def status(self) -> dict[str, Any]:
        return await self._client.status()

    async def events(self, run: str, since: int, follow: bool) -> AsyncIterator[RecordedEvent]:
        async for rec in self._client.events(run, since, follow):
            yield rec

    async def logs(self, run: str, job: str, attempt: int, follow: bool) -> AsyncIterator[LogPiece]:
        async for msg in self._client.logs(run, job, attempt, follow):
            yield LogPiece(msg.attempt, msg.seq, log_stream_from_pb(msg.stream), msg.data)

    async def verify(self, anchor: Anchor | None = None) -> VerifyResult:
        return VerifyResult.from_dict(await self._client.verify(str(anchor) if anchor else ""))


class LocalSource:
    """The local event log (``$XXCI_HOME/local.db``) and report files, read in place."""

    def __init__(
        self, store: EventStore, logs: LogStore, cache: ReportCache, report_dir: Path
    ) -> None:
        self._store = store
        self._logs = logs
        self._cache = cache
        self._report_dir = report_dir

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, home: Path) -> AsyncIterator[LocalSource]:
        path = home / "local.db"
        if not path.is_file():
            raise NotFoundError(
                f"no local runs yet: {path} does not exist (local runs: xxci run --local)"
            )
        async with contextlib.AsyncExitStack() as stack:
            try:
                store = await stack.enter_async_context(await EventStore.open(path))
                logs = await stack.enter_async_context(await LogStore.open(path))
                cache = await stack.enter_async_context(await ReportCache.open(path))
            except sqlite3.DatabaseError as err:
                raise XxciError(f"cannot read the local event log {path}: {err}") from err
            yield cls(store, logs, cache, home / "reports")

    async def report(self, query: ReportQuery) -> dict[str, Any]:
        return await query_report(self._store, self._cache, query)

    async def status(self) -> dict[str, Any]:
        # No hub here: the workers of a local run live in that run's process.
        return status_report(await unfinished_runs(self._store), None)

    async def events(self, run: str, since: int, follow: bool) -> AsyncIterator[RecordedEvent]:
        run_id = await resolve_run(self._store, run) if run else ""
        async for rec in event_feed(self._store, run_id, since, follow, LOCAL_POLL_SECONDS):
            yield rec

    async def logs(self, run: str, job: str, attempt: int, follow: bool) -> AsyncIterator[LogPiece]:
        run_id = await resolve_run(self._store, run)
        output = job_output(
            self._state_of, self._logs, run_id, job, attempt, follow, LOCAL_POLL_SECONDS
        )
        async for piece in output:
            yield piece

    async def verify(self, anchor: Anchor | None = None) -> VerifyResult:
        return await verify_log(self._store, self._cache, self._report_dir, anchor)

    async def _state_of(self, run_id: str) -> RunState:
        return await load_run(self._store, run_id)


@contextlib.asynccontextmanager
async def open_source(
    local: bool, server: str | None, token: str | None, tls_ca: Path | None
) -> AsyncIterator[Source]:
    """The local log (``--local``, which wins over XXCI_SERVER) or the orchestrator at
    ``server``; UsageError when neither is given."""
    if local:
        async with LocalSource.open(xxci_home()) as source:
            yield source
        return
    if not server:
        raise UsageError(
            "no orchestrator given: pass --server HOST:PORT, set XXCI_SERVER, or use --local"
        )
    async with Client(server, token, tls_ca) as client:
        yield RemoteSource(client)
