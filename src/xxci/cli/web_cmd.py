"""``xxci web --local``: the web view of the local event log.

The view reads ``$XXCI_HOME/local.db`` in place, with the same query functions as
``xxci report --local`` and its friends; a ``xxci run --local`` in another terminal
keeps appending, and the pages follow (its appends are noticed by polling every
:data:`LOCAL_POLL_SECONDS`). Cancel records the cancel in the log as ``xxci cancel
--local`` does. It listens on loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any

import asyncclick as click

from xxci.cli.cancel_cmd import cancel_local
from xxci.cli.home import xxci_home
from xxci.cli.options import exits_cleanly
from xxci.cli.sources import LOCAL_POLL_SECONDS
from xxci.common.errors import UsageError, XxciError
from xxci.common.events import RecordedEvent
from xxci.orchestrator.domain.state import RunState
from xxci.orchestrator.store import BlobStore, EventStore, LogStore, ReportCache
from xxci.orchestrator.views.feeds import LogPiece, event_feed, job_output
from xxci.orchestrator.views.load import load_run
from xxci.orchestrator.views.queries import (
    ReportQuery,
    query_report,
    resolve_run,
    unfinished_runs,
)
from xxci.orchestrator.views.status import status_report
from xxci.orchestrator.web import CancelAnswer, WebServer, is_loopback, split_listen

DEFAULT_HTTP = "127.0.0.1:7421"


class LocalLogBackend:
    """The web view's backend over the local log, read in place."""

    def __init__(
        self, store: EventStore, logs: LogStore, cache: ReportCache, blobs: BlobStore
    ) -> None:
        self._store = store
        self._logs = logs
        self._cache = cache
        self._blobs = blobs

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, home: Path) -> AsyncIterator[LocalLogBackend]:
        await asyncio.to_thread(home.mkdir, parents=True, exist_ok=True)
        path = home / "local.db"
        async with contextlib.AsyncExitStack() as stack:
            try:
                store = await stack.enter_async_context(await EventStore.open(path))
                logs = await stack.enter_async_context(await LogStore.open(path))
                cache = await stack.enter_async_context(await ReportCache.open(path))
            except sqlite3.DatabaseError as err:
                raise XxciError(f"cannot read the local event log {path}: {err}") from err
            yield cls(store, logs, cache, BlobStore(home / "blobs"))

    async def report(self, query: ReportQuery) -> dict[str, Any]:
        return await query_report(self._store, self._cache, query)

    async def run_report(self, run: str, at_seq: int = 0) -> dict[str, Any]:
        row = await self._store.get_run(await resolve_run(self._store, run))
        query = ReportQuery(pipeline=row.pipeline, run=row.number, at_seq=at_seq)
        return await query_report(self._store, self._cache, query)

    async def status(self) -> dict[str, Any]:
        return status_report(await unfinished_runs(self._store), None)

    async def pipelines(self) -> list[str]:
        return await self._store.pipelines()

    async def last_seq(self) -> int:
        return await self._store.last_seq()

    async def events(
        self, run: str, since_seq: int, follow: bool
    ) -> AsyncGenerator[RecordedEvent, None]:
        run_id = await resolve_run(self._store, run) if run else ""
        async for rec in event_feed(self._store, run_id, since_seq, follow, LOCAL_POLL_SECONDS):
            yield rec

    async def logs(
        self, run: str, job: str, attempt: int, follow: bool
    ) -> AsyncGenerator[LogPiece, None]:
        run_id = await resolve_run(self._store, run)
        output = job_output(
            self._state_of, self._logs, run_id, job, attempt, follow, LOCAL_POLL_SECONDS
        )
        async for piece in output:
            yield piece

    async def cancel(self, run: str, job: str = "") -> CancelAnswer:
        accepted, message = await cancel_local(run, job)
        return CancelAnswer(accepted, message)

    async def blob(self, digest: str) -> AsyncGenerator[bytes, None]:
        async for chunk in self._blobs.read_chunks(digest):
            yield chunk

    async def _state_of(self, run_id: str) -> RunState:
        return await load_run(self._store, run_id)


@click.command("web")
@click.option(
    "--local",
    is_flag=True,
    help="Serve the local event log ($XXCI_HOME, default ~/.xx-pipeline).",
)
@click.option(
    "--http",
    "http_listen",
    metavar="HOST:PORT",
    default=DEFAULT_HTTP,
    show_default=True,
    help="Where to serve it: a loopback address only.",
)
@click.option(
    "--token",
    envvar="XXCI_WEB_TOKEN",
    help="Ask for this token before showing anything (env XXCI_WEB_TOKEN).",
)
@exits_cleanly
async def web(local: bool, http_listen: str, token: str | None) -> None:
    """Serve the web view of the local runs: runs, logs, workers, events, time travel.

    Pages update live while a `xxci run --local` goes on in another terminal. The
    JSON API is under /api/v1/ (see README). An orchestrator started with
    `xxci server --http HOST:PORT` serves its own view; this command is for --local.
    Stops on Ctrl-C.
    """
    if not local:
        raise UsageError(
            "xxci web serves the local log: pass --local"
            " (a server serves its own view: xxci server --http HOST:PORT)"
        )
    host, _ = split_listen(http_listen)
    if not is_loopback(host):
        raise UsageError(f"--http must be a loopback address for --local, not {host!r}")
    home = xxci_home()
    async with LocalLogBackend.open(home) as backend:
        view = WebServer(backend, http_listen, token=token)
        await view.start()
        click.echo(f"web view of {home / 'local.db'} at {view.url} (Ctrl-C stops it)")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await view.stop()
