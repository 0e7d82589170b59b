"""Recorded runs for the reporting tests, made by the real orchestrator core.

:class:`Recorder` starts a real :class:`Orchestrator` on ``$XXCI_HOME/local.db`` (no
worker) and plays the worker itself: it appends the events a worker's messages
become, through the RunBook, so the fold, the scheduler and the per-run report files
all run for real. While it runs it holds ``$XXCI_HOME`` as the local orchestrator,
served on loopback like ``xxci run --local`` serves it, so ``--local`` commands (of
this process or another) reach it. :func:`run_cli` invokes the real CLI in-process.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import Path

from asyncclick.testing import CliRunner, Result

from xxci.cli.main import cli
from xxci.common.events import JobAssigned, JobAttemptLost, JobFinished, JobStarted, StepFinished
from xxci.common.spec import load_pipeline_text
from xxci.common.status import FailureReason, JobStatus
from xxci.orchestrator.domain.state import RunState
from xxci.orchestrator.rpc.server import OrchestratorServer
from xxci.orchestrator.runtime.orchestrator import Orchestrator

IMAGE = "busybox:1"

BUILD = f"""
pipeline: {{name: build}}
stages: [compile, test, deploy]
default: {{image: {IMAGE}}}
jobs:
  - {{name: lib, stage: compile, script: [make lib, make check]}}
  - {{name: unit, stage: test, needs: [lib], script: [make unit]}}
  - {{name: lint, stage: test, allow_failure: true, script: [ruff check, ruff format]}}
  - {{name: ship, stage: deploy, script: [make ship]}}
"""

DOCS = f"""
pipeline: {{name: docs}}
stages: [doc]
default: {{image: {IMAGE}}}
jobs:
  - {{name: html, stage: doc, script: [make html]}}
"""

Output = Sequence[tuple[str, bytes]]


class Recorder:
    """The orchestrator core of a local log, with the test as its worker."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.o = Orchestrator(home, db_name="local.db", report_dir=home / "reports", local=True)
        self.server = OrchestratorServer(self.o, "127.0.0.1:0", token=secrets.token_urlsafe(8))

    async def __aenter__(self) -> Recorder:
        await self.server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.stop(grace=0.1)

    async def submit(
        self, text: str, *, repo: str = "demo", branch: str = "main", commit: str = "c0ffee" * 6
    ) -> RunState:
        pipeline = load_pipeline_text(text, "p.yml")
        return await self.o.submit(pipeline, repo=repo, branch=branch, commit=commit)

    async def state(self, run_id: str) -> RunState:
        return await self.o.runs.get(run_id)

    async def start(self, run_id: str, job: str, worker: str = "w1") -> int:
        """Assign the QUEUED job to ``worker`` and start it; returns the attempt."""
        js = (await self.state(run_id)).jobs[job]
        assert js.status is JobStatus.QUEUED, f"{job} is {js.status}"
        await self.o.runs.record(
            run_id, [JobAssigned(job, js.attempt, worker_id=worker, worker_name=worker)]
        )
        await self.o.runs.record(run_id, [JobStarted(job, js.attempt, container="c1")])
        return js.attempt

    async def output(self, run_id: str, job: str, attempt: int, output: Output) -> None:
        first = await self.o.logs.last_seq(run_id, job, attempt)
        for seq, (stream, data) in enumerate(output, start=first + 1):
            await self.o.logs.append(run_id, job, attempt, seq, stream, data)

    async def finish(self, run_id: str, job: str, exit_code: int = 0) -> RunState:
        """End the running job: every command exits 0 up to a last failing one."""
        state = await self.state(run_id)
        js = state.jobs[job]
        spec = state.pipeline.job(job)
        codes = [0] * len(spec.script)
        if exit_code:
            codes[-1] = exit_code
        steps = [StepFinished(job, js.attempt, i, code) for i, code in enumerate(codes)]
        reason = "" if exit_code == 0 else FailureReason.SCRIPT_FAILURE.value
        finished = JobFinished(
            job,
            js.attempt,
            JobStatus.SUCCESS.value if exit_code == 0 else JobStatus.FAILED.value,
            exit_code=exit_code,
            failure_reason=reason,
            allowed=bool(exit_code) and spec.allow_failure.permits_failure(reason, exit_code),
            message=f"step {len(codes) - 1} exited with {exit_code}" if exit_code else "",
        )
        return await self.o.runs.record(run_id, [*steps, finished])

    async def run(
        self, run_id: str, job: str, exit_code: int = 0, output: Output = (), worker: str = "w1"
    ) -> RunState:
        attempt = await self.start(run_id, job, worker)
        await self.output(run_id, job, attempt, output)
        return await self.finish(run_id, job, exit_code)

    async def lose(self, run_id: str, job: str) -> RunState:
        js = (await self.state(run_id)).jobs[job]
        return await self.o.runs.record(run_id, [JobAttemptLost(job, js.attempt, "gone")])


async def record_history(home: Path) -> dict[str, RunState]:
    """Three finished runs and one in flight:

    * build #1 (repo demo): SUCCESS; lint failed with exit 1, allowed; unit printed
      output on stdout and stderr; its first attempt of ``lib`` was lost with w1.
    * docs #1 (repo site): FAILED (html exit 2).
    * build #2 (repo demo, branch dev): SUCCESS.
    * build #3 (repo demo): RUNNING, ``lib`` running on w2.
    """
    async with Recorder(home) as r:
        b1 = (await r.submit(BUILD)).run_id
        await r.start(b1, "lib", "w1")
        await r.lose(b1, "lib")
        await r.run(b1, "lib", worker="w2")
        await r.run(
            b1,
            "unit",
            output=[
                ("system", b"$ make unit\n"),
                ("stdout", b"ran 3 tests\n"),
                ("stderr", b"warning: slow\n"),
                ("stdout", b"OK\n"),
            ],
        )
        await r.run(b1, "lint", exit_code=1)
        build1 = await r.run(b1, "ship")
        d1 = (await r.submit(DOCS, repo="site")).run_id
        docs1 = await r.run(d1, "html", exit_code=2)
        b2 = (await r.submit(BUILD, branch="dev", commit="d00d" * 10)).run_id
        for job in ("lib", "unit", "lint", "ship"):
            build2 = await r.run(b2, job)
        b3 = (await r.submit(BUILD)).run_id
        await r.start(b3, "lib", "w2")
        build3 = await r.state(b3)
    return {"build#1": build1, "docs#1": docs1, "build#2": build2, "build#3": build3}


async def run_cli(*args: str) -> Result:
    return await CliRunner().invoke(cli, list(args), catch_exceptions=False)
