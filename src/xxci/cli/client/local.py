"""``--local``: the one orchestrator of ``$XXCI_HOME``, whichever process runs it.

A ``--local`` command first tries to start the orchestrator of ``$XXCI_HOME`` in its
own process. That takes the directory's lock (:mod:`xxci.orchestrator.store.dir_lock`):

* **free**: this process is the holder. It runs the orchestrator (log in ``local.db``,
  reports under ``reports/``), serves it on a loopback port with a one-time token,
  publishes that endpoint in ``orchestrator.json`` (mode 0600), and talks to it in
  process, through the application service itself.
* **taken by another ``--local`` process**: this command talks to that orchestrator
  over gRPC, at the published endpoint. A ``run --local`` there still brings a worker
  of its own, connected to that orchestrator.
* **taken by an ``xxci server``**: refused, naming its pid and address.

The lock is released by the kernel when the holder dies, so a stale endpoint file never
misleads: it counts only while its pid holds the lock. A holder whose command is done
keeps serving as long as workers of other processes are connected (their runs need
the orchestrator), then stops; a worker stops by draining, so a job of another run that
it has taken finishes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncclick as click

from xxci.cli.client.remote import GrpcClient
from xxci.cli.display.interrupt import STOP_SIGNALS
from xxci.common.api import OrchestratorApi
from xxci.common.errors import ConnectionFailed, NotFoundError, UsageError, XxciError
from xxci.orchestrator.application import OrchestratorService
from xxci.orchestrator.rpc.server import OrchestratorServer
from xxci.orchestrator.runtime.orchestrator import Orchestrator
from xxci.orchestrator.store.dir_lock import DataDirInUse, Endpoint, read_holder
from xxci.worker.connection.agent import WorkerAgent

__all__ = ["LOCAL_DB", "local_api"]

LOCAL_DB = "local.db"
LOCAL_WORKER_CREDENTIAL = "local-worker.credential"
"""The credential of the holder's worker, beside the log that knows it."""
WORKER_CACHE = "worker-cache"
"""Where local workers keep their copies of job caches, in ``$XXCI_HOME``."""

ENDPOINT_WAIT_SECONDS = 30.0
"""How long to wait for a holder that is still starting to publish its endpoint."""
CONNECT_WAIT_SECONDS = 10.0
"""How long a worker joining another process's orchestrator may take to be welcomed."""


@contextlib.asynccontextmanager
async def local_api(
    home: Path, *, jobs: int = 0, existing: bool = False
) -> AsyncIterator[OrchestratorApi]:
    """The API of ``home``'s orchestrator, and with ``jobs`` a worker of that capacity
    in this process serving it until the block ends.

    ``existing``: only a log that exists (NotFoundError otherwise), for commands that
    read it.
    """
    db = home / LOCAL_DB
    if existing and not db.is_file():
        holder = read_holder(home)
        if holder is not None and holder.endpoint is not None and not holder.endpoint.local:
            raise _server_holds(DataDirInUse(home, holder), holder.endpoint)
        raise NotFoundError(
            f"no local runs yet: {db} does not exist (local runs: xxci run --local)"
        )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ENDPOINT_WAIT_SECONDS
    while True:
        host = _Host(home)
        try:
            await host.start()
        except DataDirInUse as busy:
            endpoint = busy.holder.endpoint
            if endpoint is None:  # starting, or just gone: look again
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.05)
                continue
            if not endpoint.local:
                raise _server_holds(busy, endpoint) from None
            async with _attached(endpoint, jobs, home) as client:
                yield client
            return
        async with host.serving(jobs) as service:
            yield service
        return


def _server_holds(busy: DataDirInUse, endpoint: Endpoint) -> UsageError:
    return UsageError(
        f"{busy}: talk to it with --server {endpoint.address}, or point XXCI_HOME elsewhere"
    )


class _Host:
    """This process as the holder: the orchestrator of ``home``, served on loopback."""

    def __init__(self, home: Path) -> None:
        self.token = secrets.token_urlsafe(24)
        self.db = home / LOCAL_DB
        self.orchestrator = Orchestrator(
            home, db_name=LOCAL_DB, report_dir=home / "reports", local=True
        )
        self.server = OrchestratorServer(self.orchestrator, "127.0.0.1:0", token=self.token)

    async def start(self) -> None:
        # A new log knows no worker: the local worker's saved credential is void then.
        self.fresh_log = not self.db.exists()
        try:
            await self.server.start()
        except sqlite3.DatabaseError as err:
            await self.server.stop()
            raise XxciError(f"cannot read the local event log {self.db}: {err}") from err

    @contextlib.asynccontextmanager
    async def serving(self, jobs: int) -> AsyncIterator[OrchestratorApi]:
        """The in-process API; on the way out, serve other processes' workers until they
        are gone, then drain this process's worker and stop."""
        own: set[str] = set()
        try:
            identity = (self.db.parent / LOCAL_WORKER_CREDENTIAL, self.fresh_log)
            copies = self.db.parent / WORKER_CACHE
            async with _worker(
                self.server.address, self.token, jobs, own.add, copies, identity=identity
            ):
                yield OrchestratorService(self.orchestrator)
                await self._serve_others(own)
        finally:
            await self.server.stop()

    def _others(self, own: set[str]) -> list[str]:
        return [
            s.name
            for s in self.orchestrator.hub.sessions()
            if not s.closed and s.worker_id not in own
        ]

    async def _serve_others(self, own: set[str]) -> None:
        others = self._others(own)
        if not others:
            return
        whose = (
            f"the worker of another xxci process ({others[0]})"
            if len(others) == 1
            else f"the workers of {len(others)} other xxci processes ({', '.join(sorted(others))})"
        )
        click.echo(
            f"keeping the local orchestrator up for {whose}; interrupt to stop it anyway",
            err=True,
        )
        with _interrupt() as interrupted:
            while self._others(own) and not interrupted.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.2):
                        await interrupted.wait()


@contextlib.asynccontextmanager
async def _attached(endpoint: Endpoint, jobs: int, home: Path) -> AsyncIterator[OrchestratorApi]:
    """The orchestrator another ``--local`` process holds, over gRPC."""
    async with _LocalPeer(endpoint) as client:
        connected = asyncio.Event()
        copies = home / WORKER_CACHE
        async with _worker(
            endpoint.address, endpoint.token, jobs, lambda _: connected.set(), copies
        ):
            if jobs:
                # Connected before anything is submitted: the holder keeps serving us.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(CONNECT_WAIT_SECONDS):
                        await connected.wait()
            yield client


class _LocalPeer(GrpcClient):
    """A client of the local orchestrator in another process; losing it says so."""

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__(endpoint.address, endpoint.token)
        self._pid = endpoint.pid

    @contextlib.asynccontextmanager
    async def _translated(self) -> AsyncIterator[None]:
        try:
            async with super()._translated():
                yield
        except ConnectionFailed as err:
            raise ConnectionFailed(
                f"lost the local orchestrator (pid {self._pid}); unfinished runs carry on"
                " under the next `xxci run --local`"
            ) from err


@contextlib.asynccontextmanager
async def _worker(
    address: str,
    token: str,
    jobs: int,
    connected: Callable[[str], None],
    cache_dir: Path,
    *,
    identity: tuple[Path, bool] | None = None,
) -> AsyncIterator[None]:
    """A worker of capacity ``jobs`` (none for 0) running jobs in the local Docker
    engine, keeping its copies of job caches in ``cache_dir`` (they outlive the
    process: the next local run restores from them); on the way out it drains (a job
    it has taken finishes), a Ctrl-C stops it.

    ``identity``: the holder's worker keeps one identity in that credential file (and
    registers anew if the flag says so); a worker of another process registers for
    its own lifetime only.
    """
    holder = identity is not None
    if not jobs:
        yield
        return
    from xxci.worker.docker.container_files import BodyCache
    from xxci.worker.docker.executor import DockerExecutor

    work_dir = Path(tempfile.mkdtemp(prefix="xxci-local-"))
    executor = DockerExecutor(
        bodies=BodyCache(work_dir / "bodies"),
        default_image=os.environ.get("XXCI_DEFAULT_IMAGE") or None,
    )
    with contextlib.suppress(Exception):  # best effort: the engine may be down
        await executor.remove_orphans()
    host = socket.gethostname()
    agent = WorkerAgent(
        target=address,
        token=token,
        name=f"local@{host}" if holder else f"local@{host}/{os.getpid()}",
        capacity=jobs,
        labels=[],
        executor=executor,
        work_dir=work_dir,
        on_connected=connected,
        credential_file=identity[0] if identity else None,
        register=identity[1] if identity else False,
        cache_dir=cache_dir,
    )
    task = asyncio.create_task(agent.run(), name="local-worker")
    try:
        yield
    finally:
        agent.request_stop(drain=True)
        with _interrupt(lambda: agent.request_stop(drain=False)):
            await asyncio.gather(task, return_exceptions=True)
        await asyncio.to_thread(shutil.rmtree, work_dir, ignore_errors=True)


@contextlib.contextmanager
def _interrupt(action: Callable[[], None] | None = None) -> Iterator[asyncio.Event]:
    """An event set by Ctrl-C (or SIGTERM) while the block runs (calling ``action`` too)."""
    interrupted = asyncio.Event()

    def on_interrupt() -> None:
        interrupted.set()
        if action is not None:
            action()

    loop = asyncio.get_running_loop()
    try:
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, on_interrupt)
        installed = True
    except (NotImplementedError, RuntimeError):  # not the main thread
        installed = False
    try:
        yield interrupted
    finally:
        if installed:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)
