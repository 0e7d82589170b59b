"""``xxci run``: submit a pipeline and follow it to the end."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncclick as click
from rich.console import Console
from rich.text import Text

from xxci.cli.client import Client
from xxci.cli.gitinfo import archive, describe, show, worktree_files
from xxci.cli.home import local_db
from xxci.cli.local import local_orchestrator
from xxci.cli.options import (
    Selector,
    check_overrides,
    exits_cleanly,
    override_option,
    selector_options,
)
from xxci.cli.progress import Progress
from xxci.cli.selection import find_repo_root, resolve_repo, selected_files
from xxci.common.errors import (
    ConflictError,
    ConnectionFailed,
    NotFoundError,
    SpecError,
    UsageError,
)
from xxci.common.events import CancelRequested, JobStarted, run_stream
from xxci.common.spec import LoadedFile, diagnostics_of, display_path, load_files
from xxci.common.status import JobStatus
from xxci.orchestrator.queries import resolve_run
from xxci.orchestrator.state import RunState, replay
from xxci.orchestrator.store import EventStore
from xxci.worker.workspace import pack_directory

F = TypeVar("F", bound=Callable[..., Any])

RECONNECT_SECONDS = 60


@contextlib.asynccontextmanager
async def connect(
    local: bool,
    server: str | None,
    token: str | None,
    tls_ca: Path | None = None,
    with_worker: bool = True,
) -> AsyncIterator[Client]:
    """A client for ``--local`` (starting the in-process orchestrator) or ``--server``."""
    if local:
        async with (
            local_orchestrator(with_worker=with_worker) as endpoint,
            Client(endpoint.address, endpoint.token) as client,
        ):
            yield client
        return
    if not server:
        raise UsageError(
            "no orchestrator given: pass --server HOST:PORT, set XXCI_SERVER, or use --local"
        )
    async with Client(server, token, tls_ca) as client:
        yield client


def prepare_source(
    repo_root: Path, pipeline_file: Path, tmp: Path, commit: str | None
) -> tuple[Path, str]:
    """The source tree as an archive, and the pipeline file's text, from the working
    tree or (with ``--commit``) from that commit."""
    if commit:
        return archive(repo_root, commit, tmp / "source.tar"), show(
            repo_root, commit, pipeline_file
        )
    # What a clone would hold plus uncommitted work, never what .gitignore leaves out
    # (virtualenvs, build output); outside git, the whole folder.
    source = pack_directory(repo_root, tmp / "source.tar", only=worktree_files(repo_root))
    return source, pipeline_file.read_text(encoding="utf-8")


async def submit_and_follow(
    client: Client,
    *,
    pipeline_file: Path,
    repo_root: Path,
    overrides: tuple[str, ...],
    branch: str | None,
    commit: str | None,
    verbose: bool,
    console: Console,
    local: bool = False,
) -> bool:
    """Upload the source, submit, show progress until the run ends; True on success."""
    checkout = describe(repo_root, branch, commit)
    with tempfile.TemporaryDirectory(prefix="xxci-src-") as tmp:
        source, yaml_text = await asyncio.to_thread(
            prepare_source, repo_root, pipeline_file, Path(tmp), checkout.commit if commit else None
        )
        source_blob = await client.upload(source)
    file_name = display_path(pipeline_file)
    reply = await client.submit(
        file_name=file_name,
        yaml_text=yaml_text,
        overrides=overrides,
        repo=checkout.repo,
        branch=checkout.branch,
        commit=checkout.commit,
        source_blob=source_blob,
    )
    console.print(
        f"run {reply.run_id}: pipeline {reply.pipeline} #{reply.number}"
        + (f" on {checkout.branch}" if checkout.branch else "")
        + (f" at {checkout.commit[:12]}" if checkout.commit else ""),
        highlight=False,
    )
    return await follow_run(client, reply.run_id, console, verbose=verbose, local=local)


async def follow_run(
    client: Client, run_id: str, console: Console, *, verbose: bool, local: bool
) -> bool:
    """Show the run's progress until it ends; True if it succeeded.

    Ctrl-C: a local run is canceled (its orchestrator lives in this process), a remote
    one is left running (detached). A dropped connection to a remote orchestrator is
    retried for a while: the watch replays the run from its start, so nothing is missed.
    """
    followers: list[asyncio.Task[None]] = []
    progress = Progress(console)
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, interrupted.set)
    watcher = asyncio.create_task(_watch(client, run_id, progress, followers, verbose))
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
                    await client.cancel(run_id)
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
    client: Client,
    run_id: str,
    progress: Progress,
    followers: list[asyncio.Task[None]],
    verbose: bool,
) -> None:
    deadline = RECONNECT_SECONDS
    while True:
        try:
            progress.state = None  # the watch replays the run from its first event
            async for rec in client.watch(run_id):
                progress.feed(rec)
                deadline = RECONNECT_SECONDS
                if verbose and isinstance(rec.event, JobStarted):
                    followers.append(
                        asyncio.create_task(
                            _follow_logs(client, run_id, rec.event.job, rec.event.attempt, progress)
                        )
                    )
            return
        except ConnectionFailed as err:
            if deadline <= 0:
                raise
            progress.log(f"lost the orchestrator ({err}); retrying...")
            await asyncio.sleep(2)
            deadline -= 2


async def _tick(progress: Progress) -> None:
    while True:
        await asyncio.sleep(0.5)
        progress.refresh()


async def _follow_logs(
    client: Client, run_id: str, job: str, attempt: int, progress: Progress
) -> None:
    pending = b""
    async for chunk in client.logs(run_id, job, attempt=attempt, follow=True):
        pending += chunk.data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            progress.log(Text(f"[{job}] ", style="dim") + Text(line.decode("utf-8", "replace")))
    if pending:
        progress.log(Text(f"[{job}] ", style="dim") + Text(pending.decode("utf-8", "replace")))


def make_console() -> Console:
    return Console(file=sys.stdout, highlight=False)


def server_options(command: F) -> F:
    """``--local`` / ``--server`` / ``--token`` / ``--tls-ca``: which orchestrator."""
    options = [
        click.option(
            "--local",
            is_flag=True,
            help="Use the local orchestrator and event log ($XXCI_HOME, default ~/.xx-pipeline).",
        ),
        click.option(
            "--server",
            envvar="XXCI_SERVER",
            metavar="HOST:PORT",
            help="The orchestrator to talk to (env XXCI_SERVER).",
        ),
        click.option("--token", envvar="XXCI_TOKEN", help="Bearer token (env XXCI_TOKEN)."),
        click.option(
            "--tls-ca",
            type=click.Path(dir_okay=False, exists=True, path_type=Path),
            help="CA certificate: talk TLS to the orchestrator.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def pick_one(files: list[LoadedFile]) -> LoadedFile:
    """The one pipeline a run is about; several without a selector is a usage error."""
    diagnostics = diagnostics_of(files)
    if len(files) > 1:
        names = ", ".join(sorted(f.name or f.display_name for f in files))
        raise UsageError(
            f"several pipelines in .pipelines/ ({names}): pick one with --pipeline NAME"
        )
    if diagnostics:
        raise SpecError(diagnostics)
    return files[0]


@click.command("run")
@selector_options
@override_option
@server_options
@click.option("--branch", help="Branch to record (default: the checked-out branch).")
@click.option(
    "--commit",
    help="Run the tree of this commit (default: the working tree, recorded as HEAD).",
)
@click.option("-v", "--verbose", is_flag=True, help="Stream every job's output.")
@exits_cleanly
async def run(
    pipeline_file: Path | None,
    pipeline_name: str | None,
    repo: str | None,
    overrides: tuple[str, ...],
    local: bool,
    server: str | None,
    token: str | None,
    tls_ca: Path | None,
    branch: str | None,
    commit: str | None,
    verbose: bool,
) -> None:
    """Run a pipeline and follow it to the end.

    Validates the pipeline file, uploads the source tree, submits the run to the
    orchestrator (--server, XXCI_SERVER, or --local for one in this process) and shows
    each job's state as it changes. Exit status: 0 success, 1 the run failed or was
    canceled (or the file is invalid), 2 bad command line.
    """
    check_overrides(overrides)
    repo_path = resolve_repo(repo, branch=branch)
    selector = Selector(pipeline_file, pipeline_name, repo_path)
    chosen = pick_one(load_files(selected_files(selector), overrides))
    root = (
        repo_path
        or find_repo_root(chosen.path.resolve().parent)
        or chosen.path.resolve().parent.parent
    )
    console = make_console()
    async with connect(local, server, token, tls_ca) as client:
        ok = await submit_and_follow(
            client,
            pipeline_file=chosen.path,
            repo_root=root,
            overrides=overrides,
            branch=branch,
            commit=commit,
            verbose=verbose,
            console=console,
            local=local,
        )
    if not ok:
        raise click.exceptions.Exit(1)


@click.command("cancel")
@click.argument("run_id", metavar="RUN")
@click.argument("job", required=False)
@server_options
@exits_cleanly
async def cancel(
    run_id: str,
    job: str | None,
    local: bool,
    server: str | None,
    token: str | None,
    tls_ca: Path | None,
) -> None:
    """Cancel a run, or one JOB of it. RUN is a run id or PIPELINE#N.

    Jobs not yet started end CANCELED at once; running ones get SIGTERM, then SIGKILL
    after the grace period.
    """
    if local:
        accepted, message = await cancel_local(run_id, job or "")
    else:
        async with connect(local, server, token, tls_ca) as client:
            reply = await client.cancel(run_id, job or "")
        accepted, message = reply.accepted, reply.message
    click.echo(message)
    if not accepted:
        raise click.exceptions.Exit(1)


async def cancel_local(run_id: str, job: str) -> tuple[bool, str]:
    """Record the cancel in the local log; the `xxci run --local` process that runs the
    run picks it up within a second and stops its containers."""
    store = await EventStore.open(local_db())
    try:
        run_id = await resolve_run(store, run_id)
        for _ in range(5):
            records = await store.read_stream(run_stream(run_id))
            state = replay(records)
            title = f"{state.pipeline.name} #{state.number}"
            if state.status.finished:
                return False, f"run {title} already finished ({state.status.value})"
            if job and job not in state.jobs:
                raise NotFoundError(f"run {title} has no job {job!r}")
            try:
                await store.append(
                    run_stream(run_id),
                    state.version,
                    [CancelRequested(job=job, reason="requested by user")],
                )
            except ConflictError:
                continue
            what = f"job {job}" if job else "run"
            return True, f"cancel requested for {what} of {title}"
        raise ConflictError(f"run {run_id} keeps changing; try again")
    finally:
        await store.close()
