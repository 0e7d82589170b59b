"""`xxci web --local` and `xxci server --http` as a user starts them: the URL they
print, what they refuse, and the local log served live from another process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import aiohttp

from tests.e2e.cluster import free_port
from tests.integration.reports.recorder import run_cli
from tests.integration.web.conftest import sse_messages
from xxci.orchestrator.domain.state import RunState


async def test_web_needs_local_and_loopback(home: Path) -> None:
    result = await run_cli("web")
    assert (result.exit_code, result.stderr) == (
        2,
        "error: xxci web serves the local log: pass --local"
        " (a server serves its own view: xxci server --http HOST:PORT)\n",
    )
    result = await run_cli("web", "--local", "--http", "0.0.0.0:7421")
    assert (result.exit_code, result.stderr) == (
        2,
        "error: --http must be a loopback address for --local, not '0.0.0.0'\n",
    )
    result = await run_cli("web", "--local", "--http", "7421")
    assert (result.exit_code, result.stderr) == (
        2,
        "error: --http takes HOST:PORT (e.g. 127.0.0.1:7421), not '7421'\n",
    )


async def test_server_checks_its_http_address_first(tmp_path: Path) -> None:
    args = ("server", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path), "--http", "web")
    result = await run_cli(*args)
    assert (result.exit_code, result.stderr) == (
        2,
        "error: --http takes HOST:PORT (e.g. 127.0.0.1:7421), not 'web'\n",
    )
    assert not (tmp_path / "events.db").exists(), "nothing started"


async def test_web_local_serves_the_log_live(home: Path, history: dict[str, RunState]) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "xxci.cli",
        "web",
        "--local",
        "--http",
        f"127.0.0.1:{port}",
        env={**os.environ, "XXCI_HOME": str(home)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            first = (await proc.stdout.readline()).decode()
        url = f"http://127.0.0.1:{port}/"
        assert first == f"web view of {home / 'local.db'} at {url} (Ctrl-C stops it)\n"
        expected = json.loads((await run_cli("report", "--local", "--format", "json")).stdout)
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "api/v1/runs") as response:
                listing = await response.json()
            assert [r["run_id"] for r in listing["runs"]] == [r["run_id"] for r in expected["runs"]]
            async with http.get(url + "api/v1/workers") as response:
                assert (await response.json())["workers"] == []
            last = listing["runs"][-1]["last_seq"]
            async with http.get(f"{url}api/v1/events/stream?since={last}") as response:
                stream = sse_messages(response)
                # A --local command of another process goes through the web process's
                # orchestrator, and the page's feed shows what it recorded.
                canceled = await run_cli("cancel", "--local", "build#3", "ship")
                assert canceled.exit_code == 0, canceled.stderr
                async with asyncio.timeout(10):
                    message = await anext(stream)
            event = json.loads(message["data"])
            assert (event["type"], event["stream"]) == (
                "CancelRequested",
                f"run:{history['build#3'].run_id}",
            )
    finally:
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(15):
            await proc.wait()
    assert proc.returncode == 0
