"""Fixtures of the reporting tests: a local home with a recorded history, and an
in-process orchestrator server with a fake-executor worker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.executor import FakeExecutor
from tests.integration.reports.recorder import record_history
from xxci.orchestrator.domain.limits import Limits
from xxci.orchestrator.domain.settings import Settings
from xxci.orchestrator.domain.state import RunState
from xxci.orchestrator.rpc.server import OrchestratorServer
from xxci.orchestrator.runtime.orchestrator import Orchestrator
from xxci.worker.connection.agent import WorkerAgent

TOKEN = "reports-token"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$XXCI_HOME`` in a temp dir, with no XXCI_SERVER around."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("XXCI_HOME", str(path))
    monkeypatch.delenv("XXCI_SERVER", raising=False)
    monkeypatch.delenv("XXCI_TOKEN", raising=False)
    return path


@pytest.fixture
async def history(home: Path) -> dict[str, RunState]:
    """The runs of :func:`record_history`, recorded in ``home`` (orchestrator stopped)."""
    return await record_history(home)


@dataclass
class Served:
    """An orchestrator served over gRPC, and what it takes to reach it."""

    server: OrchestratorServer
    orchestrator: Orchestrator

    @property
    def args(self) -> list[str]:
        return ["--server", self.server.address, "--token", TOKEN]


@contextlib.asynccontextmanager
async def serve(
    data_dir: Path, *, local: bool = False, limits: Limits | None = None
) -> AsyncIterator[Served]:
    """An orchestrator on ``data_dir``; ``local``: the local one of ``$XXCI_HOME``
    (``local.db``), which ``--local`` commands of other processes reach too."""
    orchestrator = Orchestrator(
        data_dir,
        db_name="local.db" if local else "events.db",
        report_dir=data_dir / "reports" if local else None,
        local=local,
        settings=Settings(lease_ttl=10, heartbeat_interval=0.2),
        limits=limits,
    )
    server = OrchestratorServer(orchestrator, "127.0.0.1:0", token=TOKEN)
    await server.start()
    try:
        yield Served(server, orchestrator)
    finally:
        await server.stop(grace=0.1)


@contextlib.asynccontextmanager
async def worker(
    served: Served,
    executor: FakeExecutor,
    work_dir: Path,
    name: str = "w1",
    capacity: int = 2,
    labels: tuple[str, ...] = (),
) -> AsyncIterator[WorkerAgent]:
    """A real worker agent on ``served``, running jobs with ``executor``."""
    agent = WorkerAgent(
        target=served.server.address,
        token=TOKEN,
        name=name,
        capacity=capacity,
        labels=list(labels),
        executor=executor,
        work_dir=work_dir / name,
        backoff_initial=0.05,
        backoff_max=0.2,
        flush_timeout=2.0,
    )
    task = asyncio.create_task(agent.run())
    try:
        yield agent
    finally:
        agent.request_stop(drain=False)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await asyncio.gather(task, return_exceptions=True)
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
