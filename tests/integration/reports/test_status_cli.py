"""``xxci status`` against an orchestrator with a real worker: runs in flight, why
their jobs wait, the workers' slots and running jobs."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from tests.fakes.executor import FakeExecutor, FakeJob, FakeStep
from tests.fakes.orchestrator import eventually
from tests.integration.reports.conftest import serve, worker
from tests.integration.reports.recorder import IMAGE, run_cli
from xxci.common.spec import load_pipeline_text

WAITING = f"""
pipeline: {{name: waits}}
stages: [test]
default: {{image: {IMAGE}}}
jobs:
  - {{name: held, stage: test, script: [hold]}}
  - {{name: gpu, stage: test, tags: [gpu], script: [train]}}
  - {{name: later, stage: test, script: ["true"]}}
"""


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


async def test_status_says_why_jobs_wait(tmp_path: Path, home: Path) -> None:
    release = asyncio.Event()
    executor = FakeExecutor({"held": FakeJob(steps=[FakeStep(gate=release)])})
    async with (
        serve(tmp_path / "data") as served,
        worker(served, executor, tmp_path, name="w1", capacity=1, labels=("linux",)),
    ):
        await eventually(lambda: served.orchestrator.hub.sessions(), what="the worker")
        state = await served.orchestrator.submit(load_pipeline_text(WAITING, "w.yml"))
        await eventually(lambda: "held" in executor.runs, what="held to start")
        await executor.run_of("held").started.wait()
        await eventually(  # the worker's JobStarted reached the log
            lambda: served.orchestrator.runs.active()[0].jobs["held"].started_at,
            what="held's JobStarted",
        )

        result = await run_cli("status", *served.args, "--format", "json")
        assert result.exit_code == 0
        doc = json.loads(result.stdout)
        [run] = doc["runs"]
        assert (run["run_id"], run["status"], run["stage"]) == (state.run_id, "RUNNING", "test")
        assert {j["name"]: (j["status"], j["worker"], j["reason"]) for j in run["jobs"]} == {
            "held": ("RUNNING", "w1", None),
            "gpu": ("QUEUED", None, "no connected worker has the label gpu"),
            "later": ("QUEUED", None, "every worker that can take it is busy (w1 1/1)"),
        }
        [w1] = doc["workers"]
        assert (w1["name"], w1["capacity"], w1["free"], w1["labels"]) == ("w1", 1, 0, ["linux"])
        assert w1["running"] == [
            {"run_id": state.run_id, "pipeline": "waits", "number": 1, "job": "held", "attempt": 1}
        ]

        text = await run_cli("status", *served.args)
        lines = text.stdout.splitlines()
        assert lines[0] == "RUNS IN FLIGHT"
        assert cells(lines[2])[:3] == ["waits #1", "RUNNING", "test"]
        jobs = lines[lines.index("JOBS") + 1 :]
        assert cells(jobs[0]) == ["RUN", "JOB", "STATUS", "ATTEMPT", "WORKER", "WHY / FOR"]
        assert cells(jobs[1])[:5] == ["waits #1", "held", "RUNNING", "1", "w1"]
        assert cells(jobs[1])[5].startswith("running for ")
        assert cells(jobs[2]) == [
            "waits #1", "gpu", "QUEUED", "1", "no connected worker has the label gpu"
        ]  # fmt: skip
        workers = lines[lines.index("WORKERS") + 1 :]
        assert cells(workers[0]) == [
            "NAME", "ID", "CAPACITY", "FREE", "LABELS", "DRAINING", "RUNNING"
        ]  # fmt: skip
        assert cells(workers[1])[2:] == ["1", "0", "linux", "no", "waits #1 held#1"]

        # gpu can never run here: cancel the run, and nothing is in flight any more.
        release.set()
        await served.orchestrator.cancel(state.run_id)
        await eventually(lambda: not served.orchestrator.runs.active(), what="the run to end")
        done = await run_cli("status", *served.args)
        assert done.stdout.splitlines()[:3] == ["no runs in flight", "", "WORKERS"]
