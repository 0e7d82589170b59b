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
from tests.integration.reports.recorder import BUILD, Recorder, run_cli
from tests.integration.web.conftest import sse_messages
from xxci.common.events import JobAssigned, JobFinished, JobStarted, StepFinished
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


async def start_web(home: Path) -> tuple[asyncio.subprocess.Process, str]:
    """``xxci web --local`` on a free loopback port; its URL, once it printed it."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "xxci.cli", "web", "--local", "--http", f"127.0.0.1:{port}"),
        env={**os.environ, "XXCI_HOME": str(home)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        line = (await proc.stdout.readline()).decode()
    url = f"http://127.0.0.1:{port}/"
    assert line.endswith(f" at {url} (Ctrl-C stops it)\n"), line
    return proc, url


async def stop(proc: asyncio.subprocess.Process) -> int | None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
    async with asyncio.timeout(15):
        await proc.wait()
    return proc.returncode


async def test_a_second_web_view_goes_through_the_first_one_s_orchestrator(
    home: Path, history: dict[str, RunState]
) -> None:
    """The second `xxci web --local` finds the log's orchestrator in the first one's
    process and asks it over gRPC: the same answers, the live feed, the downloads."""
    archive = b"\x1f\x8b not really a tarball, but bytes to carry"
    async with Recorder(home) as r:
        digest = (await r.o.blobs.put_bytes(archive)).digest
        run_id = (await r.submit(BUILD)).run_id
        await r.o.runs.record(run_id, [JobAssigned("lib", 1, "w1", "w1"), JobStarted("lib", 1)])
        await r.o.runs.record(
            run_id,
            [
                StepFinished("lib", 1, 0, 0),
                StepFinished("lib", 1, 1, 0),
                JobFinished("lib", 1, "SUCCESS", 0, artifacts_blob=digest),
            ],
        )
    first, first_url = await start_web(home)
    try:
        second, second_url = await start_web(home)
        try:
            async with aiohttp.ClientSession() as http:
                for path in (
                    "api/v1/runs",
                    f"api/v1/runs/{run_id}",
                    "api/v1/runs/build%231/jobs/unit",
                    "api/v1/runs/build%231/jobs/unit/log",
                    "api/v1/workers",
                    "api/v1/events?run=docs%231",
                ):
                    answers = []
                    for url in (first_url, second_url):
                        async with http.get(url + path) as response:
                            assert response.status == 200, path
                            answers.append(await response.json())
                    assert answers[0] == answers[1], path
                async with http.get(second_url + "runs") as response:
                    assert '<option value="docs">docs</option>' in await response.text()
                download = f"{second_url}runs/{run_id}/jobs/lib/artifacts/1"
                async with http.get(download) as response:
                    assert (response.status, await response.read()) == (200, archive)
                async with http.get(second_url + "api/v1/runs") as response:
                    last = max(r["last_seq"] for r in (await response.json())["runs"])
                stream_url = f"{second_url}api/v1/events/stream?since={last}"
                async with http.get(stream_url) as response:
                    messages = sse_messages(response)
                    cancel = f"{second_url}api/v1/runs/build%233/cancel"
                    async with http.post(cancel, json={"job": "ship"}) as answer:
                        assert (await answer.json())["accepted"] is True
                    async with asyncio.timeout(10):
                        event = json.loads((await anext(messages))["data"])
            assert (event["type"], event["data"]["job"]) == ("CancelRequested", "ship")
        finally:
            assert await stop(second) == 0
    finally:
        assert await stop(first) == 0
