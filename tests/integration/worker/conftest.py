"""Fixtures for worker tests: a fake orchestrator on port 0 and an agent against it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.executor import FakeExecutor
from tests.fakes.orchestrator import FakeServer
from xxci.worker.connection.agent import WorkerAgent


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    srv = FakeServer()
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
def executor() -> FakeExecutor:
    return FakeExecutor()


AgentFactory = Callable[..., WorkerAgent]


@pytest.fixture
async def agent_for(tmp_path: Path, executor: FakeExecutor) -> AsyncIterator[AgentFactory]:
    """``agent_for(server, **kwargs)`` builds a WorkerAgent and runs it in the background.

    Every agent is stopped hard and awaited at teardown; ``agent.run_task`` is its task.
    """
    started: list[tuple[WorkerAgent, asyncio.Task[None]]] = []

    def make(srv: FakeServer, **kwargs: Any) -> WorkerAgent:
        options: dict[str, Any] = {
            "target": srv.target,
            "token": srv.token,
            "name": "w",
            "capacity": 2,
            "labels": ["linux"],
            "executor": executor,
            "work_dir": tmp_path / "work",
            "backoff_initial": 0.05,
            "backoff_max": 0.2,
            "flush_timeout": 2.0,
        }
        options.update(kwargs)
        agent = WorkerAgent(**options)
        task = asyncio.create_task(agent.run())
        agent.run_task = task  # type: ignore[attr-defined]
        started.append((agent, task))
        return agent

    yield make
    for agent, task in started:
        agent.request_stop(drain=False)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await asyncio.gather(task, return_exceptions=True)
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
