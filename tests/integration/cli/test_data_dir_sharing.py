"""One orchestrator per data directory, with real processes and the real CLI.

A ``--local`` command that finds ``$XXCI_HOME`` held by another ``--local`` process
works through that process's orchestrator; one that finds it free (even after a holder
was killed) runs the orchestrator itself; a second ``xxci server`` on a directory, or a
``--local`` command on a server's directory, refuses at once, naming the holder.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from asyncio.subprocess import PIPE, Process
from pathlib import Path

import pytest

from tests.integration.reports.recorder import record_history
from xxci.orchestrator.store.dir_lock import ENDPOINT_FILE, read_holder

pytestmark = pytest.mark.timeout(60)

XXCI = [sys.executable, "-m", "xxci.cli"]


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("XXCI_SERVER", "XXCI_TOKEN")}
    return {**env, "XXCI_HOME": str(home)}


async def spawn(home: Path, *args: str) -> Process:
    return await asyncio.create_subprocess_exec(
        *XXCI, *args, env=environment(home), stdout=PIPE, stderr=PIPE
    )


async def xxci(home: Path, *args: str) -> tuple[int, str, str]:
    process = await spawn(home, *args)
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def line_with(process: Process, *words: str) -> str:
    """The first line the process prints that holds every one of ``words``."""
    assert process.stdout is not None
    while True:
        line = (await process.stdout.readline()).decode()
        assert line, "the process ended first"
        if all(word in line for word in words):
            return line


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


async def test_a_second_process_works_through_the_running_local_orchestrator(
    home: Path,
) -> None:
    await record_history(home)  # build #3 is in flight
    follower = await spawn(home, "events", "--local", "--follow", "build#3")
    await line_with(follower, "RunCreated")
    endpoint = json.loads((home / ENDPOINT_FILE).read_text())
    assert (endpoint["pid"], endpoint["local"]) == (follower.pid, True)

    code, out, err = await xxci(home, "status", "--local", "--format", "json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert [(r["pipeline"], r["number"]) for r in doc["runs"]] == [("build", 3)]
    assert doc["workers"] == []

    code, out, err = await xxci(home, "cancel", "--local", "build#3", "ship")
    assert (code, out, err) == (0, "cancel requested for job ship of build #3\n", "")
    # Recorded by the follower's orchestrator, which shows it at once.
    finished = await line_with(follower, "JobFinished", "job=ship")
    assert "status=CANCELED" in finished

    follower.send_signal(signal.SIGINT)
    assert await follower.wait() == 130
    assert read_holder(home) is None
    assert not (home / ENDPOINT_FILE).exists()


async def test_a_killed_holder_leaves_nothing_in_the_way(home: Path) -> None:
    await record_history(home)
    follower = await spawn(home, "events", "--local", "--follow", "build#3")
    await line_with(follower, "RunCreated")
    follower.kill()
    await follower.wait()
    assert (home / ENDPOINT_FILE).exists(), "SIGKILL skipped the clean-up"

    code, out, err = await xxci(home, "status", "--local", "--format", "json")
    assert (code, err) == (0, "")
    assert [(r["pipeline"], r["number"]) for r in json.loads(out)["runs"]] == [("build", 3)]
    assert not (home / ENDPOINT_FILE).exists(), "the stale file went with the next holder"
    assert read_holder(home) is None


async def test_a_second_server_and_a_local_command_refuse_a_server_s_directory(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    args = ("server", "--listen", "127.0.0.1:0", "--data-dir", str(data), "--token", "t")
    first = await spawn(tmp_path, *args)
    try:
        listening = await line_with(first, "listening on")
        port = listening.split("(port ")[1].split(")")[0]
        holder = f"pid {first.pid}, xxci server listening on 127.0.0.1:{port}"

        async with asyncio.timeout(20):  # at once: it does not wait for the lock
            code, out, err = await xxci(tmp_path, *args)
        assert (code, out) == (1, "")
        assert err.splitlines()[-1] == (
            f"error: {data} is in use by another orchestrator ({holder})"
        )

        for command in (["status", "--local"], ["report", "--local"]):
            code, out, err = await xxci(data, *command)
            assert (code, out, err) == (
                2,
                "",
                f"error: {data} is in use by another orchestrator ({holder}): talk to it"
                f" with --server 127.0.0.1:{port}, or point XXCI_HOME elsewhere\n",
            )
    finally:
        first.send_signal(signal.SIGTERM)
        await first.communicate()
    assert read_holder(data) is None


@pytest.fixture
def garbage_home(home: Path) -> Path:
    home.mkdir()
    (home / "local.db").write_bytes(b"not a database, just bytes" * 100)
    return home


async def test_a_local_log_that_is_not_one_is_named_in_one_line(garbage_home: Path) -> None:
    home = garbage_home
    code, out, err = await xxci(home, "report", "--local")
    assert (code, out, err) == (
        1,
        "",
        f"error: cannot read the local event log {home / 'local.db'}: file is not a database\n",
    )
    assert read_holder(home) is None, "the directory is let go"
