"""Fixtures of the web view's tests: a recorded history served by a real
orchestrator over gRPC (for the CLI) and over HTTP (the web view), in this process,
and a client that speaks real HTTP to it on loopback."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.integration.reports.conftest import TOKEN, Served, history, home, serve
from tests.integration.reports.recorder import run_cli
from xxci.orchestrator.application import OrchestratorService
from xxci.orchestrator.domain.state import RunState
from xxci.orchestrator.web import WebServer

__all__ = ["TOKEN", "Site", "history", "home", "site_of", "sse_messages"]


@dataclass
class Site:
    """The web view of an orchestrator, and an HTTP client for it."""

    served: Served
    web: WebServer
    http: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return self.web.url.rstrip("/")

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    async def json(self, path: str, status: int = 200) -> Any:
        async with self.http.get(self.url + path, headers=self.auth()) as response:
            assert response.status == status, await response.text()
            assert response.content_type == "application/json"
            return await response.json()

    async def page(self, path: str, status: int = 200) -> str:
        async with self.http.get(self.url + path, headers=self.auth()) as response:
            assert response.status == status, await response.text()
            return await response.text()

    async def cli_json(self, *args: str) -> Any:
        """What ``xxci ARGS --format json`` prints, asked of the same orchestrator."""
        result = await run_cli(*args, *self.served.args, "--format", "json")
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)


@contextlib.asynccontextmanager
async def site_of(data_dir: Path, *, local: bool = False) -> AsyncIterator[Site]:
    async with serve(data_dir, local=local) as served:
        web = WebServer(OrchestratorService(served.orchestrator), "127.0.0.1:0", token=TOKEN)
        await web.start()
        try:
            jar = aiohttp.CookieJar(unsafe=True)  # keep cookies of 127.0.0.1
            async with aiohttp.ClientSession(cookie_jar=jar) as http:
                yield Site(served, web, http)
        finally:
            await web.stop()


@pytest.fixture
async def site(home: Path, history: dict[str, RunState]) -> AsyncIterator[Site]:
    """The recorded history (see ``record_history``) behind the web view."""
    async with site_of(home, local=True) as s:
        yield s


async def sse_messages(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, str]]:
    """The events of a Server-Sent Events answer: ``{"id", "event", "data"}`` each
    (``event`` is ``message`` when the server names none)."""
    fields: dict[str, str] = {}
    async for raw in response.content:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if "data" in fields:
                yield {"event": "message", **fields}
            fields = {}
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        value = value.removeprefix(" ")
        fields[key] = f"{fields[key]}\n{value}" if key == "data" and key in fields else value
