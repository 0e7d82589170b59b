"""An attempt from start to end, with a fake executor and an in-memory blob store: what
it reports, in which order, and how transfer failures end it."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.clock import START, FakeClock
from tests.fakes.executor import FakeExecutor, FakeJob, FakeStep
from xxci.common.errors import NotFoundError
from xxci.common.file_cache import FileCache
from xxci.common.job_extras import GivenSecret
from xxci.common.spec.model import ArtifactWhen
from xxci.common.status import FailureReason, JobStatus
from xxci.worker.attempt.blob_store import BlobStoreUnavailable
from xxci.worker.attempt.messages import (
    AttemptMessage,
    Finished,
    OutputChunk,
    Started,
    StepFinished,
)
from xxci.worker.attempt.runner import AttemptRunner
from xxci.worker.executor import Assignment, ExecutionListener, ExecutionResult, Workspace

pytestmark = pytest.mark.timeout(10)

JOB = Assignment(
    run_id="r1",
    job="build",
    attempt=1,
    stage="build",
    image="busybox",
    script=("make", "make check"),
    artifact_paths=("out/",),
    source_blob="sha256:source",
    artifact_blobs=("sha256:earlier",),
)


class Sink:
    def __init__(self) -> None:
        self.messages: list[AttemptMessage] = []
        self.closed = False

    async def put(self, message: AttemptMessage) -> None:
        assert not self.closed
        self.messages.append(message)

    def close(self) -> None:
        self.closed = True

    @property
    def finished(self) -> Finished:
        last = self.messages[-1]
        assert isinstance(last, Finished)
        return last


class Store:
    """Blobs in memory; ``down`` calls fail as unavailable, then ``error`` is raised
    by every call if set."""

    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = dict(blobs)
        self.down = 0
        self.error: Exception | None = None
        self.calls = 0

    def _fail(self) -> None:
        self.calls += 1
        if self.down:
            self.down -= 1
            raise BlobStoreUnavailable("cannot reach the orchestrator at ci:7420: refused")
        if self.error is not None:
            raise self.error

    async def download(self, digest: str, dest: Path) -> None:
        self._fail()
        if digest not in self.blobs:
            raise NotFoundError(f"no blob {digest}")
        await asyncio.to_thread(dest.write_bytes, self.blobs[digest])

    async def upload(self, path: Path) -> str:
        self._fail()
        digest = f"sha256:{len(self.blobs)}"
        self.blobs[digest] = await asyncio.to_thread(path.read_bytes)
        return digest


def store() -> Store:
    return Store({"sha256:source": b"the source", "sha256:earlier": b"earlier artifacts"})


def runner(
    tmp_path: Path, executor: FakeExecutor, blobs: Store, sink: Sink, **kwargs: Any
) -> AttemptRunner:
    """The attempt of ``JOB``; on a clock standing at ``START`` unless given one."""
    kwargs.setdefault("clock", FakeClock())
    return AttemptRunner(JOB, sink, executor, blobs, tmp_path / "work", **kwargs)


async def test_an_attempt_reports_in_order_and_uploads_its_artifacts(tmp_path: Path) -> None:
    executor = FakeExecutor(
        {
            "build": FakeJob(
                steps=[FakeStep([("stdout", b"compiled\n")]), FakeStep([("stderr", b"ok\n")])],
                artifacts=b"the artifacts",
            )
        }
    )
    blobs, sink, clock = store(), Sink(), FakeClock()
    await runner(tmp_path, executor, blobs, sink, clock=clock).run()
    at = clock.now()
    assert sink.messages == [
        Started(container="fake-build-1", image_digest="sha256:fake", at=at),
        OutputChunk(seq=1, stream="stdout", data=b"compiled\n"),
        StepFinished(index=0, exit_code=0, at=at),
        OutputChunk(seq=2, stream="stderr", data=b"ok\n"),
        StepFinished(index=1, exit_code=0, at=at),
        Finished(status=JobStatus.SUCCESS, exit_code=0, artifacts_blob="sha256:2", at=at),
    ]
    assert blobs.blobs["sha256:2"] == b"the artifacts"
    assert sink.closed
    run = executor.run_of("build")
    assert (run.source, run.artifacts) == (b"the source", [b"earlier artifacts"])
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())


class Stamping:
    """An executor listener that moves the clock on by a second before each call, so
    every stamp tells which moment it was taken at."""

    def __init__(self, inner: ExecutionListener, clock: FakeClock) -> None:
        self._inner, self._clock = inner, clock

    async def started(self, container: str, image_digest: str) -> None:
        self._clock.advance(1)
        await self._inner.started(container, image_digest)

    async def output(self, stream: str, data: bytes) -> None:
        self._clock.advance(1)
        await self._inner.output(stream, data)

    async def step_finished(self, index: int, exit_code: int) -> None:
        self._clock.advance(1)
        await self._inner.step_finished(index, exit_code)

    async def service_output(self, service: str, data: bytes) -> None:
        await self._inner.service_output(service, data)


class SlowExecutor(FakeExecutor):
    """Reports to a :class:`Stamping` listener: time passes as the job runs."""

    def __init__(self, clock: FakeClock, jobs: dict[str, FakeJob]) -> None:
        super().__init__(jobs)
        self.clock = clock

    async def run(
        self, assignment: Assignment, workspace: Workspace, listener: ExecutionListener, *args: Any
    ) -> ExecutionResult:
        return await super().run(assignment, workspace, Stamping(listener, self.clock), *args)


class SlowStore(Store):
    """Uploads wait out an outage of the orchestrator: a minute passes."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(store().blobs)
        self.clock = clock

    async def upload(self, path: Path) -> str:
        self.clock.advance(60)
        return await super().upload(path)


async def test_stamps_are_when_things_happened_not_when_they_were_sent(tmp_path: Path) -> None:
    clock = FakeClock()
    executor = SlowExecutor(clock, {"build": FakeJob(artifacts=b"the artifacts")})
    blobs, sink = SlowStore(clock), Sink()
    start = clock.now()
    await runner(tmp_path, executor, blobs, sink, clock=clock).run()

    stamps = [getattr(m, "at", None) for m in sink.messages if not isinstance(m, OutputChunk)]
    second = timedelta(seconds=1)
    # Started after 1 s, the step after 3 s (its output moved the clock too), and the
    # end then, not a minute later when the artifacts were up.
    assert stamps == [start + second, start + 3 * second, start + 3 * second]
    assert sink.finished.artifacts_blob == "sha256:2"


async def test_attempts_sharing_blob_files_fetch_each_blob_once(tmp_path: Path) -> None:
    blobs, files = store(), FileCache[str](tmp_path / "blobs")
    executor = FakeExecutor()
    jobs = [replace(JOB, job=name) for name in ("a", "b", "c")]
    sinks = [Sink() for _ in jobs]

    await asyncio.gather(
        *(
            AttemptRunner(job, sink, executor, blobs, tmp_path / "work", blob_files=files).run()
            for job, sink in zip(jobs, sinks, strict=True)
        )
    )

    assert [s.finished.status for s in sinks] == [JobStatus.SUCCESS] * 3
    assert blobs.calls == 2  # the source and the earlier artifacts, once each
    for name in ("a", "b", "c"):
        run = executor.run_of(name)
        assert (run.source, run.artifacts) == (b"the source", [b"earlier artifacts"])
    assert len(list((tmp_path / "blobs").iterdir())) == 2  # kept for the next attempts


async def test_an_unavailable_store_is_tried_again(tmp_path: Path) -> None:
    blobs, sink = store(), Sink()
    blobs.down = 2
    await runner(tmp_path, FakeExecutor(), blobs, sink).run()
    assert sink.finished.status is JobStatus.SUCCESS
    assert blobs.calls == 4  # two failures, then the source and the earlier artifacts


async def test_a_store_away_past_the_budget_fails_the_attempt(tmp_path: Path) -> None:
    executor, blobs, sink = FakeExecutor(), store(), Sink()
    blobs.down = 100
    await runner(tmp_path, executor, blobs, sink, fetch_retry_seconds=0.1).run()
    assert sink.messages == [
        Finished(
            status=JobStatus.FAILED,
            failure_reason=FailureReason.SYSTEM_FAILURE,
            message="cannot fetch the workspace: cannot reach the orchestrator at ci:7420: refused",
            at=START,
        )
    ]
    assert executor.runs == {}


async def test_a_cancel_ends_the_retries(tmp_path: Path) -> None:
    executor, blobs, sink = FakeExecutor(), store(), Sink()
    blobs.down = 100
    attempt = runner(tmp_path, executor, blobs, sink)
    task = asyncio.create_task(attempt.run())
    attempt.cancel()
    async with asyncio.timeout(5):
        await task
    assert sink.finished.failure_reason is FailureReason.SYSTEM_FAILURE
    assert sink.finished.message.startswith("cannot fetch the workspace: cannot reach")
    assert executor.runs == {}


async def test_a_missing_blob_is_not_tried_again(tmp_path: Path) -> None:
    blobs, sink = store(), Sink()
    del blobs.blobs["sha256:earlier"]
    await runner(tmp_path, FakeExecutor(), blobs, sink).run()
    assert sink.finished.message == "cannot fetch the workspace: no blob sha256:earlier"
    assert blobs.calls == 2


class FullStore(Store):
    """Fetches work; uploads fail for good."""

    async def upload(self, path: Path) -> str:
        self.calls += 1
        raise NotFoundError("the store is full")


async def test_a_success_whose_artifacts_cannot_be_uploaded_fails(tmp_path: Path) -> None:
    executor = FakeExecutor({"build": FakeJob(artifacts=b"kept")})
    blobs, sink = FullStore(store().blobs), Sink()
    await runner(tmp_path, executor, blobs, sink).run()
    assert sink.finished == Finished(
        status=JobStatus.FAILED,
        failure_reason=FailureReason.SYSTEM_FAILURE,
        message="cannot upload the artifacts: the store is full",
        at=START,
    )
    assert blobs.calls == 3  # not tried again: only unavailability is


async def test_a_failure_whose_artifacts_cannot_be_uploaded_says_both(tmp_path: Path) -> None:
    job = FakeJob(steps=[FakeStep(exit_code=2)], artifacts=b"kept")
    executor = FakeExecutor({"build": job})
    blobs, sink = FullStore(store().blobs), Sink()
    always = replace(JOB, artifact_when=ArtifactWhen.ALWAYS)
    await AttemptRunner(always, sink, executor, blobs, tmp_path / "work", clock=FakeClock()).run()
    assert sink.finished == Finished(
        status=JobStatus.FAILED,
        exit_code=2,
        failure_reason=FailureReason.SCRIPT_FAILURE,
        message="command 1 failed with exit code 2: make; "
        "cannot upload the artifacts: the store is full",
        at=START,
    )


async def test_output_past_the_limit_is_cut_where_it_is_produced_and_the_job_goes_on(
    tmp_path: Path,
) -> None:
    chatty = [FakeStep([("stdout", b"x" * 600), ("stderr", b"y" * 600)]) for _ in range(3)]
    executor = FakeExecutor({"build": FakeJob(steps=chatty)})
    sink = Sink()
    job = replace(JOB, output_limit=1000, script=("a", "b", "c"), artifact_paths=())
    await AttemptRunner(job, sink, executor, store(), tmp_path / "work").run()

    output = [m for m in sink.messages if isinstance(m, OutputChunk)]
    kept = b"".join(m.data for m in output if m.stream != "system")
    system = b"".join(m.data for m in output if m.stream == "system")
    assert kept == b"x" * 600 + b"y" * 400
    assert system == (
        b"\noutput cut at the limit of 1000 bytes: the job goes on, "
        b"the rest of its output is not kept\n"
    )
    steps = [(m.index, m.exit_code) for m in sink.messages if isinstance(m, StepFinished)]
    assert steps == [(i, 0) for i in range(3)]
    assert sink.finished.status is JobStatus.SUCCESS
    assert sink.finished.output_cut


async def test_output_within_the_limit_is_not_cut(tmp_path: Path) -> None:
    sink = Sink()
    await AttemptRunner(
        replace(JOB, output_limit=1000, artifact_paths=()),
        sink,
        FakeExecutor(),
        store(),
        tmp_path / "work",
    ).run()
    assert not sink.finished.output_cut


async def test_secrets_are_masked_before_any_output_leaves_the_attempt(tmp_path: Path) -> None:
    secret = GivenSecret("TOKEN", "TOKEN", b"s3cret-value")
    job = replace(JOB, secrets=(secret,), masked_values=("masked-var",))
    executor = FakeExecutor(
        {
            "build": FakeJob(
                steps=[
                    FakeStep([("stdout", b"token s3cret-"), ("stdout", b"value and masked-var\n")]),
                    FakeStep([("stdout", b"tail s3cr")]),
                ]
            )
        }
    )
    sink = Sink()
    await AttemptRunner(job, sink, executor, store(), tmp_path / "work").run()
    output = b"".join(m.data for m in sink.messages if isinstance(m, OutputChunk))
    assert output == b"token [MASKED] and [MASKED]\ntail s3cr"
    assert executor.run_of("build").assignment.environment["TOKEN"] == "s3cret-value"


async def test_a_secret_the_store_lost_fails_the_attempt_before_it_runs(tmp_path: Path) -> None:
    job = replace(JOB, secrets=(GivenSecret("TOKEN", "TOKEN", missing=True),))
    executor, sink, clock = FakeExecutor(), Sink(), FakeClock()
    await AttemptRunner(job, sink, executor, store(), tmp_path / "work", clock=clock).run()
    assert sink.messages == [
        Finished(
            status=JobStatus.FAILED,
            failure_reason=FailureReason.SYSTEM_FAILURE,
            message="the secret store has no secret 'TOKEN'",
            at=clock.now(),
        )
    ]
