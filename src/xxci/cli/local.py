"""``--local``: the real orchestrator and a real worker, in this process.

The orchestrator listens on a loopback port with a one-time token and keeps its log
in ``$XXCI_HOME/local.db``; the worker dials it like any remote worker would. The CLI
then talks to it through the same client as to a remote server, so local and remote
runs share every line of scheduling, dispatch and reporting code.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from xxci.cli.home import reports_dir, xxci_home
from xxci.orchestrator.rpc.server import OrchestratorServer
from xxci.orchestrator.runtime.orchestrator import Orchestrator


@dataclass(frozen=True)
class LocalEndpoint:
    address: str
    token: str


@contextlib.asynccontextmanager
async def local_orchestrator(
    with_worker: bool = True, capacity: int | None = None
) -> AsyncIterator[LocalEndpoint]:
    """Start the orchestrator (and a worker) on loopback; stop both on exit."""
    home = xxci_home()
    token = secrets.token_urlsafe(24)
    server = OrchestratorServer(
        Orchestrator(home, db_name="local.db", report_dir=reports_dir(), local=True),
        "127.0.0.1:0",
        token=token,
    )
    await server.start()
    worker_task: asyncio.Task[None] | None = None
    agent = None
    work_dir = None
    try:
        if with_worker:
            from xxci.worker.connection.agent import WorkerAgent
            from xxci.worker.docker.container_files import BodyCache
            from xxci.worker.docker.executor import DockerExecutor

            work_dir = Path(tempfile.mkdtemp(prefix="xxci-local-"))
            executor = DockerExecutor(bodies=BodyCache(work_dir / "bodies"))
            with contextlib.suppress(Exception):  # best effort: the engine may be down
                await executor.remove_orphans()
            agent = WorkerAgent(
                target=server.address,
                token=token,
                name=f"local@{socket.gethostname()}",
                capacity=capacity or max(2, os.cpu_count() or 2),
                labels=[],
                executor=executor,
                work_dir=work_dir,
            )
            worker_task = asyncio.create_task(agent.run(), name="local-worker")
        yield LocalEndpoint(server.address, token)
    finally:
        if agent is not None:
            await agent.stop(drain=False)
        if worker_task is not None:
            worker_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker_task
        try:
            await server.stop()
        finally:
            if work_dir is not None:
                await asyncio.to_thread(shutil.rmtree, work_dir, ignore_errors=True)


def local_home() -> Path:
    return xxci_home()
