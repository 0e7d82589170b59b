"""The executor contract, run against both executors: the Docker one and the fake.

Each test describes a job once, as a :class:`Scenario` of steps (output, exit code,
or a step that hangs), and :func:`run_scenario` translates it per executor: shell
lines for :class:`DockerExecutor` (``printf``, ``(exit N)``, ``sleep 30``), a
:class:`FakeJob` of :class:`FakeStep` for :class:`FakeExecutor` (a gate never opened
for a hang). Every assertion holds for both, so tests that use the fake rely on
behaviour the real executor has.

``system`` output is xxci's own commentary (``$ command`` lines, cancel notes) and is
not part of the contract; ``stdout`` and ``stderr`` are, byte for byte.
"""

from __future__ import annotations

import asyncio
import io
import shlex
import tarfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fakes.executor import FakeExecutor, FakeJob, FakeStep
from xxci.common.spec.model import ArtifactWhen
from xxci.common.status import FailureReason, JobStatus
from xxci.worker.docker.container_config import LABEL_RUN
from xxci.worker.docker.engine import DockerEngine
from xxci.worker.docker.executor import DockerExecutor
from xxci.worker.executor import Assignment, ExecutionResult, Executor, Workspace

pytestmark = pytest.mark.timeout(30)

KINDS = ["docker", "fake"]


# --- scenarios ------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One script command: writes ``out`` and ``err``, then exits with ``exit_code``;
    or, with ``hang``, runs until it is stopped (and writes nothing)."""

    out: str = ""
    err: str = ""
    exit_code: int = 0
    hang: bool = False
    stop_seconds: float = 0.0
    """For a hang: how long it takes to stop on SIGTERM (it traps the signal)."""


HANG = Step(hang=True)


@dataclass(frozen=True)
class Scenario:
    steps: tuple[Step, ...]
    timeout_seconds: float = 60.0
    artifact_paths: tuple[str, ...] = ()
    artifact_when: ArtifactWhen = ArtifactWhen.ON_SUCCESS
    files: dict[str, str] = field(default_factory=dict)
    """Files the job leaves in its workspace (for artifacts)."""


def shell_line(step: Step) -> str:
    if step.hang and step.stop_seconds:
        return f"trap 'sleep {step.stop_seconds:g}; exit 143' TERM; while true; do sleep 0.1; done"
    if step.hang:
        return "sleep 30"
    parts = []
    if step.out:
        parts.append(f"printf '%s' {shlex.quote(step.out)}")
    if step.err:
        parts.append(f"printf '%s' {shlex.quote(step.err)} >&2")
    parts.append(f"(exit {step.exit_code})")
    return "; ".join(parts)


def fake_step(step: Step) -> FakeStep:
    if step.hang:
        return FakeStep(gate=asyncio.Event())  # never opened
    output = [(s, t.encode()) for s, t in (("stdout", step.out), ("stderr", step.err)) if t]
    return FakeStep(output=output, exit_code=step.exit_code)


def tar_of(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# --- running one ------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One listener call: ("started", container, digest), ("output", stream, bytes) or
    ("step", index, exit code)."""

    kind: str
    a: object
    b: object


@dataclass
class Recorder:
    """An ExecutionListener that keeps every call; ``on_call`` sees each as it comes."""

    on_call: Callable[[Call], None] | None = None
    calls: list[Call] = field(default_factory=list)

    def _add(self, call: Call) -> None:
        self.calls.append(call)
        if self.on_call is not None:
            self.on_call(call)

    async def started(self, container: str, image_digest: str) -> None:
        self._add(Call("started", container, image_digest))

    async def output(self, stream: str, data: bytes) -> None:
        self._add(Call("output", stream, data))

    async def step_finished(self, index: int, exit_code: int) -> None:
        self._add(Call("step", index, exit_code))

    async def service_output(self, service: str, data: bytes) -> None:
        self._add(Call("service", service, data))

    def text(self, stream: str) -> str:
        return b"".join(
            c.b
            for c in self.calls
            if c.kind == "output" and c.a == stream and isinstance(c.b, bytes)
        ).decode()

    @property
    def steps(self) -> list[tuple[object, object]]:
        return [(c.a, c.b) for c in self.calls if c.kind == "step"]

    def job_output(self) -> list[tuple[str, str]]:
        """stdout and stderr as ``(stream, text)`` in the order they came, one entry per
        run of the same stream."""
        runs: list[tuple[str, str]] = []
        for c in self.calls:
            if c.kind != "output" or c.a == "system" or not isinstance(c.b, bytes):
                continue
            if runs and runs[-1][0] == c.a:
                runs[-1] = (str(c.a), runs[-1][1] + c.b.decode())
            else:
                runs.append((str(c.a), c.b.decode()))
        return runs

    def stdout_and_steps(self) -> list[object]:
        """Stdout text and step ends in the order they came (stdout and the step markers
        share one pipe in a container, so their relative order is exact)."""
        merged: list[object] = []
        for c in self.calls:
            if c.kind == "step":
                merged.append((c.a, c.b))
            elif c.kind == "output" and c.a == "stdout" and isinstance(c.b, bytes):
                if merged and isinstance(merged[-1], str):
                    merged[-1] += c.b.decode()
                else:
                    merged.append(c.b.decode())
        return merged


@dataclass
class Outcome:
    result: ExecutionResult
    recorder: Recorder
    seconds: float
    """From the call to its result."""
    after_cancel: float | None
    """From the cancel (by ``cancel_after_step``) to the result."""


async def run_scenario(
    kind: str,
    scenario: Scenario,
    tmp_path: Path,
    *,
    cancel: asyncio.Event | None = None,
    cancel_after_step: int | None = None,
    grace: float = 5.0,
    kill: str = "",
) -> Outcome:
    """Run ``scenario`` on executor ``kind``. With ``cancel_after_step``, the cancel
    event is set as soon as that step has been reported finished; ``kill`` says when the
    kill event is set too: "with" the cancel, or once the job "stopping" says it is
    being stopped (a system line), that is, during its grace."""
    cancel = cancel or asyncio.Event()
    killing = asyncio.Event()
    canceled_at: list[float] = []

    def on_call(call: Call) -> None:
        if call.kind == "step" and call.a == cancel_after_step:
            canceled_at.append(time.monotonic())
            cancel.set()
            if kill == "with":
                killing.set()
        if kill == "stopping" and call.kind == "output" and call.a == "system" and cancel.is_set():
            killing.set()

    recorder = Recorder(on_call=on_call)
    run_id = f"contract-{uuid.uuid4().hex[:12]}"
    executor: Executor
    workspace = Workspace()
    artifact_dir = tmp_path / "artifacts"
    artifact_dir.mkdir(exist_ok=True)
    if kind == "docker":
        image = "xxci-test/busybox:latest"
        script = tuple(shell_line(s) for s in scenario.steps)
        executor = DockerExecutor(artifact_dir=artifact_dir)
        if scenario.files:
            source = tmp_path / "source.tar"
            source.write_bytes(tar_of(scenario.files))
            workspace = Workspace(source=source)
    else:
        image = "busybox"
        script = tuple(f"step {i}" for i in range(len(scenario.steps)))
        artifacts = tar_of(scenario.files) if scenario.files else None
        fake = FakeJob(
            steps=[fake_step(s) for s in scenario.steps],
            artifacts=artifacts,
            stop_seconds=max((s.stop_seconds for s in scenario.steps), default=0.0),
        )
        executor = FakeExecutor({"job": fake}, artifact_dir=artifact_dir)
    assignment = Assignment(
        run_id=run_id,
        job="job",
        attempt=1,
        stage="test",
        image=image,
        script=script,
        timeout_seconds=scenario.timeout_seconds,
        artifact_paths=scenario.artifact_paths,
        artifact_when=scenario.artifact_when,
    )
    began = time.monotonic()
    async with asyncio.timeout(25):
        result = await executor.run(assignment, workspace, recorder, cancel, grace, killing)
    ended = time.monotonic()
    if kind == "docker":
        async with DockerEngine() as engine:
            assert await engine.container_ids({LABEL_RUN: run_id}) == [], "container left behind"
    after_cancel = ended - canceled_at[0] if canceled_at else None
    return Outcome(result, recorder, ended - began, after_cancel)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "docker":
        request.getfixturevalue("docker_image")  # fails loudly without an engine
    return str(request.param)


# --- the contract -------------------------------------------------------------------------


async def test_success_reports_start_every_step_and_output(kind: str, tmp_path: Path) -> None:
    scenario = Scenario((Step(out="one\n"), Step(out="two\n", err="warn\n"), Step()))
    got = await run_scenario(kind, scenario, tmp_path)

    assert got.result.status is JobStatus.SUCCESS
    assert got.result.exit_code == 0
    assert got.result.failure_reason is None
    assert got.result.artifacts is None
    first = got.recorder.calls[0]
    assert first.kind == "started"
    assert isinstance(first.a, str) and first.a
    assert isinstance(first.b, str) and first.b.startswith("sha256:")
    assert [c.kind for c in got.recorder.calls].count("started") == 1
    assert got.recorder.steps == [(0, 0), (1, 0), (2, 0)]
    assert got.recorder.stdout_and_steps() == ["one\n", (0, 0), "two\n", (1, 0), (2, 0)]
    assert got.recorder.text("stderr") == "warn\n"


async def test_first_failing_step_ends_the_job(kind: str, tmp_path: Path) -> None:
    scenario = Scenario(
        (Step(out="before\n"), Step(out="bad\n", err="oops\n", exit_code=3), Step(out="after\n"))
    )
    got = await run_scenario(kind, scenario, tmp_path)

    assert got.result.status is JobStatus.FAILED
    assert got.result.failure_reason is FailureReason.SCRIPT_FAILURE
    assert got.result.exit_code == 3
    assert got.result.message.startswith("command 2 failed with exit code 3")
    assert got.recorder.stdout_and_steps() == ["before\n", (0, 0), "bad\n", (1, 3)]
    assert got.recorder.text("stderr") == "oops\n"


async def test_a_failing_first_step_runs_nothing_else(kind: str, tmp_path: Path) -> None:
    got = await run_scenario(kind, Scenario((Step(exit_code=1), Step(out="never\n"))), tmp_path)

    assert (got.result.status, got.result.exit_code) == (JobStatus.FAILED, 1)
    assert got.recorder.steps == [(0, 1)]
    assert got.recorder.text("stdout") == ""


async def test_output_arrives_in_order(kind: str, tmp_path: Path) -> None:
    lines = "".join(f"line {i}\n" for i in range(200))
    scenario = Scenario(
        (Step(out=lines), Step(out="no newline"), Step(out=" then more\n", err="e1\ne2\n"))
    )
    got = await run_scenario(kind, scenario, tmp_path)

    assert got.result.status is JobStatus.SUCCESS
    assert got.recorder.stdout_and_steps() == [
        lines,
        (0, 0),
        "no newline",
        (1, 0),
        " then more\n",
        (2, 0),
    ]
    assert got.recorder.text("stderr") == "e1\ne2\n"


async def test_each_steps_output_comes_before_the_next_steps(kind: str, tmp_path: Path) -> None:
    # Whatever stream a step writes on: in a container the two are read independently.
    steps = tuple(Step(err=f"e{i}\n") if i % 2 else Step(out=f"o{i}\n") for i in range(12))
    got = await run_scenario(kind, Scenario(steps), tmp_path)

    assert got.result.status is JobStatus.SUCCESS
    assert got.recorder.job_output() == [
        ("stderr", f"e{i}\n") if i % 2 else ("stdout", f"o{i}\n") for i in range(12)
    ]
    assert got.recorder.steps == [(i, 0) for i in range(12)]


async def test_cancel_while_a_step_runs(kind: str, tmp_path: Path) -> None:
    scenario = Scenario((Step(out="first\n"), HANG, Step(out="never\n")))
    got = await run_scenario(kind, scenario, tmp_path, cancel_after_step=0, grace=5.0)

    assert got.result.status is JobStatus.CANCELED
    assert got.result.failure_reason is FailureReason.CANCELED
    assert got.result.exit_code is None
    assert got.recorder.steps == [(0, 0)]
    assert got.recorder.text("stdout") == "first\n"
    assert got.after_cancel is not None and got.after_cancel < 3, "the step was not stopped"


async def test_cancel_waits_for_a_job_that_takes_time_to_stop(kind: str, tmp_path: Path) -> None:
    scenario = Scenario((Step(out="first\n"), Step(hang=True, stop_seconds=1.0)))
    got = await run_scenario(kind, scenario, tmp_path, cancel_after_step=0, grace=5.0)

    assert got.result.status is JobStatus.CANCELED
    assert got.result.failure_reason is FailureReason.CANCELED
    assert got.after_cancel is not None
    assert 1.0 <= got.after_cancel < 5, "the result came before the job stopped, or too late"


async def test_cancel_kills_a_job_that_outlasts_the_grace(kind: str, tmp_path: Path) -> None:
    scenario = Scenario((Step(out="first\n"), Step(hang=True, stop_seconds=20.0)))
    got = await run_scenario(kind, scenario, tmp_path, cancel_after_step=0, grace=1.0)

    assert got.result.status is JobStatus.CANCELED
    assert got.after_cancel is not None and 1.0 <= got.after_cancel < 5


async def test_a_kill_stops_a_job_that_traps_sigterm_at_once(kind: str, tmp_path: Path) -> None:
    scenario = Scenario((Step(out="first\n"), Step(hang=True, stop_seconds=20.0)))
    got = await run_scenario(kind, scenario, tmp_path, cancel_after_step=0, grace=20, kill="with")

    assert got.result.status is JobStatus.CANCELED
    assert got.after_cancel is not None and got.after_cancel < 5, "the grace was waited out"


async def test_a_kill_cuts_a_running_grace_short(kind: str, tmp_path: Path) -> None:
    scenario = Scenario((Step(out="first\n"), Step(hang=True, stop_seconds=20.0)))
    got = await run_scenario(
        kind, scenario, tmp_path, cancel_after_step=0, grace=20, kill="stopping"
    )

    assert got.result.status is JobStatus.CANCELED
    assert got.after_cancel is not None and got.after_cancel < 5, "the grace was waited out"


async def test_cancel_before_start_runs_nothing(kind: str, tmp_path: Path) -> None:
    cancel = asyncio.Event()
    cancel.set()
    got = await run_scenario(kind, Scenario((Step(out="never\n"),)), tmp_path, cancel=cancel)

    assert got.result.status is JobStatus.CANCELED
    assert got.result.failure_reason is FailureReason.CANCELED
    assert got.recorder.calls == []


async def test_timeout_stops_the_job(kind: str, tmp_path: Path) -> None:
    scenario = Scenario((Step(out="start\n"), HANG), timeout_seconds=1)
    got = await run_scenario(kind, scenario, tmp_path)

    assert got.result.status is JobStatus.FAILED
    assert got.result.failure_reason is FailureReason.TIMEOUT
    assert got.result.exit_code is None
    assert got.result.message == "job exceeded its timeout of 1s"
    assert got.recorder.steps == [(0, 0)]
    assert got.recorder.text("stdout") == "start\n"
    assert 1 <= got.seconds < 8


@pytest.mark.parametrize(
    ("when", "fails", "collected"),
    [
        (ArtifactWhen.ON_SUCCESS, False, True),
        (ArtifactWhen.ON_SUCCESS, True, False),
        (ArtifactWhen.ON_FAILURE, False, False),
        (ArtifactWhen.ON_FAILURE, True, True),
        (ArtifactWhen.ALWAYS, True, True),
    ],
)
async def test_artifacts_follow_their_when_rule(
    kind: str, tmp_path: Path, when: ArtifactWhen, fails: bool, collected: bool
) -> None:
    scenario = Scenario(
        (Step(exit_code=2 if fails else 0),),
        artifact_paths=("*.log",),
        artifact_when=when,
        files={"run.log": "log\n"},
    )
    got = await run_scenario(kind, scenario, tmp_path)

    assert got.result.status is (JobStatus.FAILED if fails else JobStatus.SUCCESS)
    if collected:
        assert got.result.artifacts is not None and got.result.artifacts.is_file()
        with tarfile.open(got.result.artifacts) as tar:
            assert {m.name for m in tar.getmembers()} == {"run.log"}
    else:
        assert got.result.artifacts is None


async def test_no_artifacts_without_paths_or_after_a_cancel(kind: str, tmp_path: Path) -> None:
    files = {"run.log": "log\n"}
    got = await run_scenario(kind, Scenario((Step(),), files=files), tmp_path)
    assert (got.result.status, got.result.artifacts) == (JobStatus.SUCCESS, None)

    scenario = Scenario(
        (Step(), HANG), artifact_paths=("*.log",), artifact_when=ArtifactWhen.ALWAYS, files=files
    )
    got = await run_scenario(kind, scenario, tmp_path, cancel_after_step=0)
    assert (got.result.status, got.result.artifacts) == (JobStatus.CANCELED, None)
