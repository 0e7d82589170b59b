"""``xxci events`` and ``xxci logs``: the raw log for audit, and job output, followed
while a job runs (from another process through the local orchestrator's endpoint, and
remotely through StreamLogs from a real worker)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from asyncio.subprocess import PIPE
from pathlib import Path

from tests.fakes.executor import FakeExecutor, FakeJob, FakeStep
from tests.fakes.orchestrator import eventually
from tests.integration.reports.conftest import serve, worker
from tests.integration.reports.recorder import IMAGE, Recorder, record_history, run_cli
from xxci.common.events import decode_event, run_stream
from xxci.common.spec import load_pipeline_text
from xxci.orchestrator.domain.state import RunState
from xxci.orchestrator.store import EventStore


async def stored_events(home: Path, run_id: str = "") -> list[tuple[int, str, int, str]]:
    async with await EventStore.open(home / "local.db") as store:
        records = await (store.read_stream(run_stream(run_id)) if run_id else store.read_all())
    return [(r.seq, r.stream, r.version, r.event.type) for r in records]


async def test_events_of_a_run_as_text(home: Path, history: dict[str, RunState]) -> None:
    run_id = history["docs#1"].run_id
    result = await run_cli("events", "--local", "docs#1")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    expected = await stored_events(home, run_id)
    assert len(lines) == len(expected)
    for line, (seq, stream, version, type_name) in zip(lines, expected, strict=True):
        cells = line.split()
        assert (int(cells[0]), cells[3], int(cells[4]), cells[5]) == (
            seq,
            stream,
            version,
            type_name,
        )
    assert lines[0].split()[6:9] == [f"run_id={run_id}", "pipeline=docs", "number=1"]
    assert lines[-1].split()[5:] == ["RunFinished", "status=FAILED"]
    by_id = await run_cli("events", "--local", run_id)
    assert by_id.stdout == result.stdout


async def test_events_since_and_as_jsonl(home: Path, history: dict[str, RunState]) -> None:
    everything = await stored_events(home)
    since = everything[10][0]
    result = await run_cli("events", "--local", "--since", str(since), "--format", "json")
    assert result.exit_code == 0
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(d["seq"], d["stream"], d["version"], d["type"]) for d in docs] == everything[11:]
    for doc in docs:
        assert set(doc) == {"seq", "stream", "version", "type", "data", "at"}
        assert doc["at"].endswith("+00:00")
        decode_event(doc["type"], doc["data"])  # the data is the event, complete
    created = next(d for d in docs if d["type"] == "RunCreated")
    assert created["data"]["pipeline"]["name"] in ("build", "docs")
    assert "jobs" in created["data"]["pipeline"]


async def test_events_and_logs_name_unknown_runs(history: dict[str, RunState]) -> None:
    result = await run_cli("events", "--local", "nope")
    assert (result.exit_code, result.stderr) == (
        1,
        "error: no run 'nope' (name a run by its id, or as PIPELINE#N)\n",
    )
    result = await run_cli("logs", "--local", "build#9", "lib")
    assert (result.exit_code, result.stderr) == (1, "error: pipeline 'build' has no run #9\n")
    result = await run_cli("events", "--local", "--since", "-1")
    assert (result.exit_code, result.stderr) == (
        2,
        "error: --since takes a number of at least 0, not -1\n",
    )


async def test_logs_print_a_job_s_output_in_order(history: dict[str, RunState]) -> None:
    expected = b"$ make unit\nran 3 tests\nwarning: slow\nOK\n"
    for ref in ("build#1", "build/1", history["build#1"].run_id):
        result = await run_cli("logs", "--local", ref, "unit")
        assert (result.exit_code, result.stdout_bytes, result.stderr) == (0, expected, "")
    result = await run_cli("logs", "--local", "build#1", "lib", "--attempt", "3")
    assert (result.exit_code, result.stderr) == (
        1,
        "error: job 'lib' of build #1 has no attempt 3 (it has 2 attempts)\n",
    )
    result = await run_cli("logs", "--local", "build#1", "nope")
    assert result.stderr == "error: run build #1 has no job 'nope' (jobs: lib, unit, lint, ship)\n"


async def xxci_process(home: Path, *args: str) -> asyncio.subprocess.Process:
    """The real CLI in a process of its own (stdout piped)."""
    env = {**os.environ, "XXCI_HOME": str(home)}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "xxci.cli", *args, env=env, stdout=PIPE, stderr=PIPE
    )


async def test_follow_stops_when_the_run_finishes(home: Path) -> None:
    """The local orchestrator runs in the recorder; --local followers in another process
    and in this one reach it through the endpoint it publishes, and end with the run."""
    history = await record_history(home)
    run_id = history["build#3"].run_id
    async with Recorder(home) as r:
        logs = await xxci_process(home, "logs", "--local", "--follow", "build#3", "lib")
        events = asyncio.create_task(run_cli("events", "--local", "--follow", "build#3"))
        await r.output(run_id, "lib", 1, [("stdout", b"compiling\n")])
        await eventually_readable(logs, b"compiling\n")
        assert not events.done(), "following a run in flight"
        await r.output(run_id, "lib", 1, [("stderr", b"done\n")])
        await r.finish(run_id, "lib", exit_code=1)
        async with asyncio.timeout(10):
            followed = await events
            rest, err = await logs.communicate()
    out = b"compiling\n" + rest
    assert (logs.returncode, out, err) == (0, b"compiling\ndone\n", b"")
    assert followed.exit_code == 0
    assert followed.stdout.splitlines()[-1].split()[5:] == ["RunFinished", "status=FAILED"]


async def eventually_readable(process: asyncio.subprocess.Process, expected: bytes) -> None:
    """Read ``expected`` from the process's stdout (it has started following)."""
    assert process.stdout is not None
    async with asyncio.timeout(20):
        assert await process.stdout.readexactly(len(expected)) == expected


SLOW = f"""
pipeline: {{name: slow}}
stages: [test]
default: {{image: {IMAGE}}}
jobs:
  - {{name: held, stage: test, script: [first, second]}}
"""


async def test_logs_follow_a_running_job_on_a_worker(tmp_path: Path, home: Path) -> None:
    """Held by the fake executor, the job runs until released; a follower through the
    server (StreamLogs) and one of another process (--local, which finds the directory
    held and uses the endpoint published there) both print everything, in order, and
    end with the job."""
    release = asyncio.Event()
    executor = FakeExecutor(
        {
            "held": FakeJob(
                steps=[
                    FakeStep([("system", b"$ first\n"), ("stdout", b"one\n")]),
                    FakeStep([("system", b"$ second\n"), ("stderr", b"two\n")], gate=release),
                ]
            )
        }
    )
    expected = b"$ first\none\n$ second\ntwo\n"
    async with serve(home, local=True) as served, worker(served, executor, tmp_path):
        state = await served.orchestrator.submit(load_pipeline_text(SLOW, "slow.yml"))
        await eventually(lambda: "held" in executor.runs, what="the job to start")
        await executor.run_of("held").started.wait()
        local = await xxci_process(home, "logs", "--local", "--follow", "slow#1", "held")
        remote = asyncio.create_task(
            run_cli("logs", *served.args, "--follow", state.run_id, "held")
        )
        await asyncio.sleep(1.0)
        assert not remote.done() and local.returncode is None, "both follow the running job"
        release.set()
        async with asyncio.timeout(10):
            result = await remote
            out, err = await local.communicate()
        assert (result.exit_code, result.stdout_bytes, result.stderr) == (0, expected, "")
        assert (await local.wait(), out, err) == (0, expected, b"")
