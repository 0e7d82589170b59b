"""A scripted stand-in for the Docker executor (same contract, no Docker).

Each job name maps to a :class:`FakeJob`: steps that write output lines and exit with a
code, optionally held at a gate (an ``asyncio.Event`` the test sets) so a test decides
when a job moves on, zuul-style. A cancel is honoured at any gate or sleep: the job
ends CANCELED at once. The assignment's timeout is enforced the same way. What the
executor saw (assignment, workspace bytes, cancel) is recorded in
:attr:`FakeExecutor.runs`.

It keeps the real executor's contract (tests/integration/test_executor_contract.py runs
the same tests against both): a cancel set before the start runs nothing; results,
exit codes and messages look like the Docker executor's; artifacts are returned only
when the assignment names artifact paths and its ``artifact_when`` matches, never
after a cancel.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from xxci.common.spec.durations import format_duration
from xxci.common.status import FailureReason, JobStatus
from xxci.worker.executor import (
    Assignment,
    ExecutionListener,
    ExecutionResult,
    Workspace,
)


@dataclass
class FakeStep:
    """One script line: output ``(stream, bytes)`` pieces, then ``exit_code``."""

    output: list[tuple[str, bytes]] = field(default_factory=list)
    exit_code: int = 0
    gate: asyncio.Event | None = None  # wait for it before the output
    seconds: float = 0.0  # sleep before the output


@dataclass
class FakeJob:
    steps: list[FakeStep] = field(default_factory=lambda: [FakeStep([("stdout", b"ok\n")])])
    artifacts: bytes | None = None  # contents of the artifacts archive to return
    raise_error: Exception | None = None  # break the contract: raise from run()
    stop_seconds: float = 0.0  # how long it takes to stop once canceled (at most the grace)
    stop_gate: asyncio.Event | None = None  # or: stops when the test sets it (same bound)
    kill_gate: asyncio.Event | None = None  # once killed, ends when the test sets it (an
    # engine slow to reap the container); unset: a kill ends it at once


@dataclass
class FakeRun:
    assignment: Assignment
    source: bytes | None
    artifacts: list[bytes]
    cancel: asyncio.Event
    grace_seconds: float
    kill: asyncio.Event = field(default_factory=asyncio.Event)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    result: ExecutionResult | None = None


class _Canceled(Exception):
    pass


class _TimedOut(Exception):
    pass


class FakeExecutor:
    """Implements :class:`xxci.worker.executor.Executor` from :class:`FakeJob` scripts.

    A job without an entry in ``jobs`` runs ``default(assignment)`` if given, else one
    step that prints ``ok``. ``runs`` holds the latest run of each job name,
    ``all_runs`` every run in the order they began. Artifact archives are written to
    ``artifact_dir`` (None: the system temp dir), one file each, the caller's to remove.
    """

    def __init__(
        self,
        jobs: dict[str, FakeJob] | None = None,
        *,
        default: Callable[[Assignment], FakeJob] | None = None,
        artifact_dir: Path | None = None,
    ) -> None:
        self.jobs = dict(jobs or {})
        self.default = default
        self.runs: dict[str, FakeRun] = {}
        self.all_runs: list[FakeRun] = []
        self.artifact_dir = artifact_dir
        self._new_run = asyncio.Event()

    def run_of(self, job: str) -> FakeRun:
        return self.runs[job]

    async def wait_started(self, job: str) -> FakeRun:
        """Wait until the latest run of ``job`` has started, and return it."""
        while job not in self.runs:
            self._new_run.clear()
            await self._new_run.wait()
        run = self.runs[job]
        await run.started.wait()
        return run

    async def run(
        self,
        assignment: Assignment,
        workspace: Workspace,
        listener: ExecutionListener,
        cancel: asyncio.Event,
        grace_seconds: float = 10.0,
        kill: asyncio.Event | None = None,
    ) -> ExecutionResult:
        job = self.jobs.get(assignment.job)
        if job is None:
            job = self.default(assignment) if self.default is not None else FakeJob()
        record = FakeRun(
            assignment=assignment,
            source=workspace.source.read_bytes() if workspace.source else None,
            artifacts=[p.read_bytes() for p in workspace.artifacts],
            cancel=cancel,
            grace_seconds=grace_seconds,
            kill=kill or asyncio.Event(),
        )
        self.runs[assignment.job] = record
        self.all_runs.append(record)
        self._new_run.set()
        if job.raise_error is not None:
            raise job.raise_error
        if cancel.is_set():  # as Docker: a cancel before the start runs nothing
            record.result = _canceled()
            return record.result
        await listener.started(f"fake-{assignment.job}-{assignment.attempt}", "sha256:fake")
        record.started.set()
        deadline = asyncio.get_running_loop().time() + assignment.timeout_seconds
        result = await self._steps(
            assignment, job, listener, cancel, deadline, grace_seconds, record.kill
        )
        if job.artifacts is not None and assignment.collects_artifacts(result.status):
            # As the Docker executor: one file, the caller's to consume (a worker
            # removes it once uploaded).
            fd, name = tempfile.mkstemp(
                prefix="fake-artifacts-", suffix=".tar", dir=self.artifact_dir
            )
            with os.fdopen(fd, "wb") as out:
                out.write(job.artifacts)
            path = Path(name)
            result = ExecutionResult(
                status=result.status,
                exit_code=result.exit_code,
                failure_reason=result.failure_reason,
                message=result.message,
                artifacts=path,
            )
        record.result = result
        return result

    async def _steps(
        self,
        assignment: Assignment,
        job: FakeJob,
        listener: ExecutionListener,
        cancel: asyncio.Event,
        deadline: float,
        grace_seconds: float,
        kill: asyncio.Event,
    ) -> ExecutionResult:
        for index, step in enumerate(job.steps):
            try:
                if step.gate is not None:
                    await _unless_stopped(step.gate.wait(), cancel, deadline)
                if step.seconds:
                    await _unless_stopped(asyncio.sleep(step.seconds), cancel, deadline)
            except _Canceled:
                await listener.output("system", b"job canceled\n")
                # Like a job that traps SIGTERM: it ends in its own time, or is killed.
                await _stopping(job, max(0.0, grace_seconds), kill)
                return _canceled()
            except _TimedOut:
                limit = format_duration(assignment.timeout_seconds)
                await listener.output("system", f"job exceeded its timeout of {limit}\n".encode())
                return ExecutionResult(
                    status=JobStatus.FAILED,
                    failure_reason=FailureReason.TIMEOUT,
                    message=f"job exceeded its timeout of {limit}",
                )
            for stream, data in step.output:
                await listener.output(stream, data)
            await listener.step_finished(index, step.exit_code)
            if step.exit_code != 0:
                command = assignment.script[index] if index < len(assignment.script) else ""
                return ExecutionResult(
                    status=JobStatus.FAILED,
                    exit_code=step.exit_code,
                    failure_reason=FailureReason.SCRIPT_FAILURE,
                    message=f"command {index + 1} failed with exit code {step.exit_code}: "
                    f"{command}",
                )
        return ExecutionResult(status=JobStatus.SUCCESS, exit_code=0)


async def _stopping(job: FakeJob, grace_seconds: float, kill: asyncio.Event) -> None:
    """Wait until the job stops by itself (its stop time, its gate), the grace runs out,
    or it is killed."""
    stopped: Awaitable[object] = (
        asyncio.sleep(job.stop_seconds) if job.stop_gate is None else job.stop_gate.wait()
    )
    work = asyncio.ensure_future(stopped)
    killed = asyncio.ensure_future(kill.wait())
    try:
        await asyncio.wait(
            {work, killed}, timeout=grace_seconds, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for task in (work, killed):
            task.cancel()
        await asyncio.gather(work, killed, return_exceptions=True)
    if kill.is_set() and job.kill_gate is not None:
        await job.kill_gate.wait()


def _canceled() -> ExecutionResult:
    return ExecutionResult(
        status=JobStatus.CANCELED, failure_reason=FailureReason.CANCELED, message="job canceled"
    )


async def _unless_stopped(
    awaitable: Awaitable[object], cancel: asyncio.Event, deadline: float
) -> None:
    """Await ``awaitable`` unless ``cancel`` is set first (raise _Canceled) or the loop
    time passes ``deadline`` (raise _TimedOut)."""
    work = asyncio.ensure_future(awaitable)
    canceled = asyncio.ensure_future(cancel.wait())
    remaining = max(0.0, deadline - asyncio.get_running_loop().time())
    try:
        done, _ = await asyncio.wait(
            {work, canceled}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for task in (work, canceled):
            task.cancel()
        await asyncio.gather(work, canceled, return_exceptions=True)
    if work in done:
        return
    if canceled in done:
        raise _Canceled
    raise _TimedOut
