"""Following a run: live progress until it ends, Ctrl-C, dropped connections, logs."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from rich.console import Console
from rich.text import Text

from xxci.cli.display.progress import Progress
from xxci.common.api import OrchestratorApi
from xxci.common.errors import ConnectionFailed
from xxci.common.events import JobStarted
from xxci.common.status import JobStatus
from xxci.orchestrator.domain.state import RunState

RECONNECT_SECONDS = 60


async def follow_run(
    api: OrchestratorApi, run_id: str, console: Console, *, verbose: bool, local: bool
) -> bool:
    """Show the run's progress until it ends; True if it succeeded.

    Ctrl-C: a local run is canceled (it was started for this command), a remote one is
    left running (detached). A dropped connection to a remote orchestrator is retried
    for a while: the watch replays the run from its start, so nothing is missed. A
    local orchestrator that is gone does not come back at its address: no retry.
    """
    followers: list[asyncio.Task[None]] = []
    progress = Progress(console, local=local)
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, interrupted.set)
    watcher = asyncio.create_task(
        _watch(api, run_id, progress, followers, verbose, retry=not local)
    )
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
                        progress.log(
                            f"detached: run {run_id} goes on (stop it with: xxci cancel {run_id})"
                        )
                        break
                    progress.log("canceling the run (interrupt again to stop waiting)...")
                    await api.cancel(run_id)
                    loop.remove_signal_handler(signal.SIGINT)
                    loop.add_signal_handler(signal.SIGINT, watcher.cancel)
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
            loop.remove_signal_handler(signal.SIGINT)
        for task in (watcher, *followers):
            task.cancel()
    progress.summary()
    if not verbose:
        for hint in log_hints(progress.state, local):
            console.print(hint, highlight=False, style="dim")
    return progress.succeeded


def log_hints(state: RunState | None, local: bool) -> list[str]:
    """``xxci logs ...`` commands for the jobs whose own output explains a failure."""
    if state is None:
        return []
    flag = " --local" if local else ""
    name = f"{state.pipeline.name}#{state.number}"
    return [
        f"output of {js.name}: xxci logs{flag} '{name}' {js.name}"
        for js in state.jobs.values()
        if js.status is JobStatus.FAILED and js.started_at is not None
    ]


async def _watch(
    api: OrchestratorApi,
    run_id: str,
    progress: Progress,
    followers: list[asyncio.Task[None]],
    verbose: bool,
    retry: bool,
) -> None:
    deadline = RECONNECT_SECONDS
    while True:
        try:
            progress.state = None  # the watch replays the run from its first event
            async for rec in api.watch(run_id):
                progress.feed(rec)
                deadline = RECONNECT_SECONDS
                if verbose and isinstance(rec.event, JobStarted):
                    followers.append(
                        asyncio.create_task(
                            _follow_logs(api, run_id, rec.event.job, rec.event.attempt, progress)
                        )
                    )
            return
        except ConnectionFailed as err:
            if not retry or deadline <= 0:
                raise
            progress.log(f"lost the orchestrator ({err}); retrying...")
            await asyncio.sleep(2)
            deadline -= 2


async def _tick(progress: Progress) -> None:
    while True:
        await asyncio.sleep(0.5)
        progress.refresh()


async def _follow_logs(
    api: OrchestratorApi, run_id: str, job: str, attempt: int, progress: Progress
) -> None:
    pending = b""
    async for chunk in api.logs(run_id, job, attempt=attempt, follow=True):
        pending += chunk.data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            progress.log(Text(f"[{job}] ", style="dim") + Text(line.decode("utf-8", "replace")))
    if pending:
        progress.log(Text(f"[{job}] ", style="dim") + Text(pending.decode("utf-8", "replace")))
