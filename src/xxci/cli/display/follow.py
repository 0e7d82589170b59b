"""Following a run: live progress until it ends, Ctrl-C, dropped connections, logs."""

from __future__ import annotations

import asyncio
import contextlib

from rich.console import Console
from rich.text import Text

from xxci.cli.display.interrupt import STOP_SIGNALS
from xxci.cli.display.progress import Progress, command_line
from xxci.common.api import OrchestratorApi
from xxci.common.errors import ConnectionFailed
from xxci.common.events import JobStarted
from xxci.common.status import JobStatus
from xxci.orchestrator.domain.state import RunState

RECONNECT_SECONDS = 60.0
"""How long a lost orchestrator is waited for before ``xxci run`` gives up."""
RETRY_SECONDS = 0.5
"""How often it is tried meanwhile (the channel adds its own back-off, at most 2 s)."""
LOST = "lost the orchestrator, reconnecting..."
BACK = "reconnected to the orchestrator"


async def follow_run(
    api: OrchestratorApi,
    run_id: str,
    console: Console,
    *,
    verbose: bool,
    local: bool,
    again: str = "",
) -> bool:
    """Show the run's progress until it ends; True if it succeeded.

    Ctrl-C: a local run is canceled (it was started for this command), a remote one is
    left running (detached). A dropped connection to a remote orchestrator is retried
    for :data:`RECONNECT_SECONDS`, said in one line when lost and one when back; the
    watch replays the run from its start and what was shown already is not shown
    again. A local orchestrator that is gone does not come back at its address: no
    retry. ``again`` holds the options that reach the orchestrator, for the commands
    suggested (``--local``, ``--server HOST:PORT``).
    """
    followers: list[asyncio.Task[None]] = []
    progress = Progress(console, again=again)
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, interrupted.set)
    link = _Link(progress, retry=not local)
    watcher = asyncio.create_task(_watch(api, run_id, progress, followers, verbose, link))
    try:
        with progress:
            ticker = asyncio.create_task(_tick(progress))
            try:
                while not watcher.done():
                    waiter = asyncio.create_task(interrupted.wait())
                    await asyncio.wait({watcher, waiter}, return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    if not interrupted.is_set():
                        continue
                    interrupted.clear()
                    if not local:
                        watcher.cancel()
                        stop = command_line("cancel", again, run_id)
                        progress.log(f"detached: run {run_id} goes on (stop it with: {stop})")
                        break
                    progress.log("canceling the run (interrupt again to stop waiting)...")
                    await api.cancel(run_id)
                    for sig in STOP_SIGNALS:
                        loop.remove_signal_handler(sig)
                        loop.add_signal_handler(sig, watcher.cancel)
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            finally:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
                if followers:
                    # Logs of the last jobs may still be in flight: give them a moment.
                    await asyncio.wait(followers, timeout=5)
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)
        for task in (watcher, *followers):
            task.cancel()
        await asyncio.gather(watcher, *followers, return_exceptions=True)
    progress.summary()
    if not verbose:
        for hint in log_hints(progress.state, again):
            console.print(hint, highlight=False, markup=False, soft_wrap=True, style="dim")
    return progress.succeeded


def log_hints(state: RunState | None, again: str) -> list[str]:
    """``xxci logs ...`` commands, whole, for the jobs whose own output explains a
    failure."""
    if state is None:
        return []
    run = f"{state.pipeline.name}#{state.number}"
    return [
        f"output of {js.name}: {command_line('logs', again, run, js.name)}"
        for js in state.jobs.values()
        if js.status is JobStatus.FAILED and js.started_at is not None
    ]


class _Link:
    """Whether the orchestrator is reachable, told once when lost and once when back;
    :meth:`lost` raises once it has been away too long (or at once, without ``retry``)."""

    def __init__(self, progress: Progress, *, retry: bool) -> None:
        self._progress = progress
        self._retry = retry
        self._since: float | None = None

    def lost(self, err: ConnectionFailed) -> None:
        now = asyncio.get_running_loop().time()
        if not self._retry:
            raise err
        if self._since is None:
            self._since = now
            self._progress.log(LOST)
        elif now - self._since > RECONNECT_SECONDS:
            raise err

    def up(self) -> None:
        if self._since is not None:
            self._since = None
            self._progress.log(BACK)

    @property
    def down(self) -> bool:
        return self._since is not None


async def _watch(
    api: OrchestratorApi,
    run_id: str,
    progress: Progress,
    followers: list[asyncio.Task[None]],
    verbose: bool,
    link: _Link,
) -> None:
    shown = 0  # the version of the last event fed: a replay after a reconnect skips them
    while True:
        try:
            async for rec in api.watch(run_id):
                link.up()
                if rec.version <= shown:
                    continue
                shown = rec.version
                progress.feed(rec)
                if verbose and isinstance(rec.event, JobStarted):
                    job, attempt = rec.event.job, rec.event.attempt
                    followers.append(
                        asyncio.create_task(_follow_logs(api, run_id, job, attempt, progress, link))
                    )
            return
        except ConnectionFailed as err:
            link.lost(err)
            await asyncio.sleep(RETRY_SECONDS)


async def _tick(progress: Progress) -> None:
    while True:
        await asyncio.sleep(0.5)
        progress.refresh()


async def _follow_logs(
    api: OrchestratorApi, run_id: str, job: str, attempt: int, progress: Progress, link: _Link
) -> None:
    """Print an attempt's output as it comes; after a lost connection, carry on after
    the last piece printed (the watch says the connection was lost, and gives up)."""
    pending = b""
    last = 0
    while True:
        try:
            async for chunk in api.logs(run_id, job, attempt=attempt, follow=True):
                if chunk.seq <= last:
                    continue
                last = chunk.seq
                pending += chunk.data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    progress.log(_line(job, line))
            break
        except ConnectionFailed:
            await asyncio.sleep(RETRY_SECONDS)
    if pending:
        progress.log(_line(job, pending))


def _line(job: str, data: bytes) -> Text:
    return Text(f"[{job}] ", style="dim") + Text(data.decode("utf-8", "replace"))
