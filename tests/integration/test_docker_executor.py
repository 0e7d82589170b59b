"""DockerExecutor against the real engine and the local busybox image.

Every run goes through :func:`execute`, which also checks that no container of the
attempt is left behind, whatever the outcome.
"""

from __future__ import annotations

import asyncio
import tarfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from xxci.common.archives import pack_directory
from xxci.common.spec.model import ArtifactWhen
from xxci.common.status import FailureReason, JobStatus
from xxci.worker.docker.container_config import LABEL_RUN
from xxci.worker.docker.engine import Container, DockerEngine
from xxci.worker.docker.executor import DockerExecutor
from xxci.worker.executor import Assignment, ExecutionResult, Workspace

pytestmark = pytest.mark.docker


@dataclass(frozen=True)
class Started:
    at: float
    container: str
    digest: str


@dataclass(frozen=True)
class Out:
    at: float
    stream: str
    data: bytes


@dataclass(frozen=True)
class Step:
    at: float
    index: int
    exit_code: int


@dataclass
class Recorder:
    """An ExecutionListener that keeps every call, with when it happened."""

    on_output: Callable[[Recorder], None] | None = None
    events: list[Started | Out | Step] = field(default_factory=list)
    services: dict[str, bytes] = field(default_factory=dict)

    async def started(self, container: str, image_digest: str) -> None:
        self.events.append(Started(time.monotonic(), container, image_digest))

    async def output(self, stream: str, data: bytes) -> None:
        self.events.append(Out(time.monotonic(), stream, data))
        if self.on_output is not None:
            self.on_output(self)

    async def step_finished(self, index: int, exit_code: int) -> None:
        self.events.append(Step(time.monotonic(), index, exit_code))

    async def service_output(self, service: str, data: bytes) -> None:
        self.services[service] = self.services.get(service, b"") + data

    @property
    def outputs(self) -> list[Out]:
        return [e for e in self.events if isinstance(e, Out)]

    def text(self, stream: str) -> str:
        return b"".join(o.data for o in self.outputs if o.stream == stream).decode()

    @property
    def steps(self) -> list[tuple[int, int]]:
        return [(e.index, e.exit_code) for e in self.events if isinstance(e, Step)]

    @property
    def all_output(self) -> bytes:
        return b"".join(o.data for o in self.outputs)

    def transcript(self) -> list[tuple[str, str]]:
        """Every output as ``(stream, text)`` in the order it came, one entry per run of
        the same stream (how the bytes were chunked does not matter)."""
        runs: list[tuple[str, str]] = []
        for o in self.outputs:
            if runs and runs[-1][0] == o.stream:
                runs[-1] = (o.stream, runs[-1][1] + o.data.decode())
            else:
                runs.append((o.stream, o.data.decode()))
        return runs


async def containers_of(run_id: str) -> list[str]:
    async with DockerEngine() as engine:
        return await engine.container_ids({LABEL_RUN: run_id})


async def execute(
    image: str,
    script: list[str],
    *,
    recorder: Recorder | None = None,
    cancel: asyncio.Event | None = None,
    workspace: Workspace | None = None,
    executor: DockerExecutor | None = None,
    grace: float = 10.0,
    **fields: object,
) -> tuple[ExecutionResult, Recorder]:
    recorder = recorder or Recorder()
    run_id = f"test-{uuid.uuid4().hex[:12]}"
    assignment = Assignment(
        run_id=run_id,
        job="job",
        attempt=1,
        stage="test",
        image=image,
        script=tuple(script),
        **fields,  # type: ignore[arg-type]
    )
    executor = executor or DockerExecutor()
    async with asyncio.timeout(60):
        result = await executor.run(
            assignment, workspace or Workspace(), recorder, cancel or asyncio.Event(), grace
        )
    assert await containers_of(run_id) == [], "the attempt's container was not removed"
    return result, recorder


def files_in(directory: Path) -> list[Path]:
    return list(directory.iterdir())


def member_names(archive: Path) -> set[str]:
    with tarfile.open(archive) as tar:
        return {m.name for m in tar.getmembers()}


async def test_success_reports_started_output_and_every_step(docker_image: str) -> None:
    result, rec = await execute(docker_image, ["echo one", "echo two", "true"])

    assert result.status is JobStatus.SUCCESS
    assert result.exit_code == 0
    assert result.failure_reason is None
    assert rec.steps == [(0, 0), (1, 0), (2, 0)]
    first = rec.events[0]
    assert isinstance(first, Started)
    assert len(first.container) == 64
    assert first.digest.startswith("sha256:")
    assert rec.text("stdout") == "one\ntwo\n"
    assert rec.text("system") == "$ echo one\n$ echo two\n$ true\n"
    # Each command's line comes before its output, and its step after it.
    assert rec.events[1:4] == [
        Out(rec.events[1].at, "system", b"$ echo one\n"),
        Out(rec.events[2].at, "stdout", b"one\n"),
        Step(rec.events[3].at, 0, 0),
    ]


async def test_stops_at_first_failing_command_with_its_exit_code(docker_image: str) -> None:
    result, rec = await execute(docker_image, ["echo before", "exit 3", "echo after"])

    assert result.status is JobStatus.FAILED
    assert result.failure_reason is FailureReason.SCRIPT_FAILURE
    assert result.exit_code == 3
    assert "exit 3" in result.message
    assert rec.steps == [(0, 0), (1, 3)]
    assert "after" not in rec.text("stdout")


async def test_false_stops_the_script(docker_image: str) -> None:
    result, rec = await execute(docker_image, ["false", "echo after"])

    assert (result.status, result.exit_code) == (JobStatus.FAILED, 1)
    assert rec.steps == [(0, 1)]
    assert rec.text("stdout") == ""


async def test_set_e_in_a_multiline_command_and_a_removed_exit_trap(docker_image: str) -> None:
    result, rec = await execute(docker_image, ["set -e\nfalse\necho unreachable"])
    assert (result.exit_code, rec.steps) == (1, [(0, 1)])
    assert "unreachable" not in rec.text("stdout")

    # A command that drops xxci's EXIT trap still gets its step reported.
    result, rec = await execute(docker_image, ["true", "trap - EXIT; exit 5"])
    assert (result.exit_code, rec.steps) == (5, [(0, 0), (1, 5)])


async def test_cd_and_export_carry_to_the_next_command(docker_image: str) -> None:
    result, rec = await execute(
        docker_image,
        ["mkdir -p sub/dir && cd sub/dir", "export GREETING=hello", 'pwd; echo "$GREETING"'],
    )

    assert result.status is JobStatus.SUCCESS
    assert rec.text("stdout") == "/workspace/sub/dir\nhello\n"


async def test_output_is_streamed_in_order_and_markers_never_leak(docker_image: str) -> None:
    result, rec = await execute(
        docker_image,
        [
            "echo out1; sleep 0.2; echo err1 >&2; sleep 0.2; echo out2",
            "printf 'no newline'",
            "echo err2 >&2; cat /proc/$$/cmdline >/dev/null",
            "exec >/dev/null; echo hidden",  # markers do not go through the job's stdout
            "echo still-hidden",
        ],
    )

    assert result.status is JobStatus.SUCCESS
    assert rec.steps == [(i, 0) for i in range(5)]
    assert rec.text("stdout") == "out1\nout2\nno newline"
    assert rec.text("stderr") == "err1\nerr2\n"
    assert b"\x1e" not in rec.all_output
    assert b"xxci:" not in rec.all_output
    joined = b"|".join(o.data for o in rec.outputs)
    assert joined.index(b"out1") < joined.index(b"err1") < joined.index(b"out2")


async def test_the_log_reads_as_a_transcript_whatever_stream_a_command_writes(
    docker_image: str,
) -> None:
    # stdout and stderr reach the executor as two independent streams: without the
    # markers on both, a command's stderr can overtake its `$` line or the output of
    # the command before it.
    script = [f"echo err{i} >&2" if i % 2 else f"echo out{i}" for i in range(20)]
    result, rec = await execute(docker_image, script)

    assert result.status is JobStatus.SUCCESS
    expected: list[tuple[str, str]] = []
    for i, command in enumerate(script):
        expected += [("system", f"$ {command}\n")]
        expected += [("stderr", f"err{i}\n") if i % 2 else ("stdout", f"out{i}\n")]
    assert rec.transcript() == expected
    assert rec.steps == [(i, 0) for i in range(20)]


async def test_steps_are_reported_as_they_finish(docker_image: str) -> None:
    result, rec = await execute(docker_image, ["true", "sleep 1"])
    ended = time.monotonic()

    assert result.status is JobStatus.SUCCESS
    first_step_at = next(e.at for e in rec.events if isinstance(e, Step) and e.index == 0)
    assert ended - first_step_at > 0.8, "step 0 was reported only at the end"


async def test_variables_are_in_the_environment(docker_image: str) -> None:
    result, rec = await execute(
        docker_image,
        ['echo "$FOO|$CI_JOB_NAME"'],
        variables={"FOO": "bar baz 'quoted'", "CI_JOB_NAME": "job"},
    )

    assert result.status is JobStatus.SUCCESS
    assert rec.text("stdout") == "bar baz 'quoted'|job\n"


@pytest.mark.parametrize("unpack", [True, False], ids=["unpacked-inside", "copied-in"])
async def test_source_tree_and_earlier_artifacts_are_in_the_workspace(
    docker_image: str, tmp_path: Path, unpack: bool
) -> None:
    tree = tmp_path / "repo"
    (tree / "sub").mkdir(parents=True)
    (tree / ".git").mkdir()
    (tree / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tree / "hello.txt").write_text("hello\n")
    (tree / "sub" / "nested.txt").write_text("nested\n")
    (tree / "shared.txt").write_text("from source\n")
    source = pack_directory(tree, tmp_path / "source.tar.gz")
    earlier = tmp_path / "earlier"
    (earlier / "out").mkdir(parents=True)
    (earlier / "out" / "lib.so").write_text("built\n")
    (earlier / "shared.txt").write_text("from artifacts\n")
    artifacts = pack_directory(earlier, tmp_path / "artifacts.tar.gz")

    result, rec = await execute(
        docker_image,
        ["cat hello.txt sub/nested.txt out/lib.so shared.txt", "test ! -e .git"],
        workspace=Workspace(source=source, artifacts=(artifacts,)),
        executor=DockerExecutor(unpack_in_container=unpack),
    )

    assert result.status is JobStatus.SUCCESS, rec.text("stderr")
    assert rec.text("stdout") == "hello\nnested\nbuilt\nfrom artifacts\n"


async def test_symlinks_of_the_source_tree_are_symlinks_in_the_workspace(
    docker_image: str, tmp_path: Path
) -> None:
    tree = tmp_path / "repo"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "a.txt").write_text("a\n")
    for name, target in [("etcdir", "/etc"), ("up", "../.."), ("insidedir", "sub")]:
        (tree / name).symlink_to(target)
    (tree / "file.txt").symlink_to("sub/a.txt")
    source = pack_directory(tree, tmp_path / "source.tar.gz")

    result, rec = await execute(
        docker_image,
        [
            "for l in etcdir up insidedir file.txt; do test -L $l && echo $l $(readlink $l); done",
            "cat insidedir/a.txt file.txt",
        ],
        workspace=Workspace(source=source),
    )

    assert result.status is JobStatus.SUCCESS, rec.text("stderr")
    assert rec.text("stdout") == (
        "etcdir /etc\nup ../..\ninsidedir sub\nfile.txt sub/a.txt\na\na\n"
    )


@pytest.mark.parametrize("unpack", [True, False], ids=["unpacked-inside", "copied-in"])
async def test_the_workspace_goes_in_as_one_archive_or_none(
    docker_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unpack: bool
) -> None:
    """Copied: one archive copy per job (none without files). Unpacked inside the
    container: no copy at all."""
    executor = DockerExecutor(unpack_in_container=unpack)
    copies: list[str] = []
    put_archive = Container.put_archive

    async def counted(self: Container, path: str, data: object) -> None:
        copies.append(path)
        await put_archive(self, path, data)  # type: ignore[arg-type]

    monkeypatch.setattr(Container, "put_archive", counted)
    source = pack_directory(tree_of(tmp_path / "repo", {"a.txt": "a\n"}), tmp_path / "s.tar.gz")
    first = pack_directory(tree_of(tmp_path / "one", {"b.txt": "b\n"}), tmp_path / "1.tar.gz")
    second = pack_directory(tree_of(tmp_path / "two", {"c.txt": "c\n"}), tmp_path / "2.tar.gz")

    result, rec = await execute(
        docker_image,
        ["cat a.txt b.txt c.txt"],
        workspace=Workspace(source=source, artifacts=(first, second)),
        executor=executor,
    )
    assert (result.status, rec.text("stdout")) == (JobStatus.SUCCESS, "a\nb\nc\n")
    assert copies == ([] if unpack else ["/"])

    copies.clear()
    result, rec = await execute(docker_image, ["pwd", "ls -A | wc -l"], executor=executor)
    assert (result.status, rec.text("stdout")) == (JobStatus.SUCCESS, "/workspace\n0\n")
    assert copies == []


async def test_a_script_too_long_for_an_argument_runs_from_a_private_file(
    docker_image: str,
) -> None:
    words = " ".join(["word"] * 20_000)  # about 100 KB: past the inline limit
    result, rec = await execute(
        docker_image,
        [f"echo {words} | wc -w", "stat -c %a /.xxci/run.sh", "pwd"],
    )

    assert result.status is JobStatus.SUCCESS, rec.text("stderr")
    assert rec.text("stdout") == "20000\n600\n/workspace\n"
    assert rec.steps == [(0, 0), (1, 0), (2, 0)]


def tree_of(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


_MAKE_FILES = (
    "mkdir -p build/libs build/x/doc build/y reports/deep"
    " && echo jar > build/libs/a.jar && echo txt > build/libs/b.txt"
    " && echo html > build/x/doc/index.html && echo y > build/y/doc"
    " && echo r1 > reports/r1.xml && echo r2 > reports/deep/r2.xml && echo o > other.txt"
)


async def test_artifacts_are_collected_by_glob(docker_image: str, tmp_path: Path) -> None:
    result, _ = await execute(
        docker_image,
        [_MAKE_FILES],
        artifact_paths=("build/libs/*.jar", "build/**/doc/", "**/*.xml", "missing/**"),
        executor=DockerExecutor(artifact_dir=tmp_path),
    )

    assert result.status is JobStatus.SUCCESS
    assert result.artifacts is not None and result.artifacts.parent == tmp_path
    assert member_names(result.artifacts) == {
        "build/libs/a.jar",
        "build/x/doc",
        "build/x/doc/index.html",
        "reports/r1.xml",
        "reports/deep/r2.xml",
    }
    with tarfile.open(result.artifacts) as tar:
        jar = tar.extractfile("build/libs/a.jar")
        assert jar is not None and jar.read() == b"jar\n"


async def test_artifacts_past_their_limit_are_cut_and_the_log_says_so(
    docker_image: str, tmp_path: Path
) -> None:
    make = "mkdir out && for n in 1 2 3 4; do head -c 40000 /dev/zero > out/f$n; done"

    result, recorder = await execute(
        docker_image,
        [make],
        artifact_paths=("out/",),
        artifact_limit=100_000,
        executor=DockerExecutor(artifact_dir=tmp_path),
    )

    assert result.status is JobStatus.SUCCESS and result.artifacts_cut
    assert result.artifacts is not None
    assert member_names(result.artifacts) == {"out", "out/f1", "out/f2"}
    assert (
        "artifacts: cut at the limit of 97.66 KiB: the files after the first 3 entries "
        "were left out\n" in recorder.text("system")
    )


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
    docker_image: str, tmp_path: Path, when: ArtifactWhen, fails: bool, collected: bool
) -> None:
    script = ["echo log > run.log", "exit 2" if fails else "true"]
    result, _ = await execute(
        docker_image,
        script,
        artifact_paths=("*.log",),
        artifact_when=when,
        executor=DockerExecutor(artifact_dir=tmp_path),
    )

    assert result.status is (JobStatus.FAILED if fails else JobStatus.SUCCESS)
    if collected:
        assert result.artifacts is not None
        assert member_names(result.artifacts) == {"run.log"}
    else:
        assert result.artifacts is None
        assert files_in(tmp_path) == []


async def test_nothing_matched_gives_no_archive(docker_image: str, tmp_path: Path) -> None:
    result, rec = await execute(
        docker_image,
        ["true"],
        artifact_paths=("dist/*.whl",),
        executor=DockerExecutor(artifact_dir=tmp_path),
    )

    assert result.status is JobStatus.SUCCESS
    assert result.artifacts is None
    assert "no files matched dist/*.whl" in rec.text("system")
    assert files_in(tmp_path) == []


async def test_timeout_fails_the_job(docker_image: str) -> None:
    started = time.monotonic()
    result, rec = await execute(docker_image, ["echo start", "sleep 30"], timeout_seconds=1)

    assert time.monotonic() - started < 10
    assert result.status is JobStatus.FAILED
    assert result.failure_reason is FailureReason.TIMEOUT
    assert result.message == "job exceeded its timeout of 1s"
    assert rec.text("stdout") == "start\n"
    assert rec.steps == [(0, 0)]


def _cancel_when_ready(cancel: asyncio.Event) -> Recorder:
    def check(rec: Recorder) -> None:
        if "ready" in rec.text("stdout"):
            cancel.set()

    return Recorder(on_output=check)


async def test_cancel_sends_sigterm_to_the_running_command(docker_image: str) -> None:
    cancel = asyncio.Event()
    started = time.monotonic()
    result, rec = await execute(
        docker_image,
        ["trap 'echo got TERM; exit 143' TERM", "echo ready; sleep 30; echo slept"],
        recorder=_cancel_when_ready(cancel),
        cancel=cancel,
        grace=20,
    )

    # The trap ran right away: SIGTERM reached `sleep` too, not only the shell.
    assert time.monotonic() - started < 10
    assert result.status is JobStatus.CANCELED
    assert result.failure_reason is FailureReason.CANCELED
    assert rec.text("stdout") == "ready\ngot TERM\n"


async def test_cancel_kills_after_the_grace_period(docker_image: str) -> None:
    cancel = asyncio.Event()
    result, rec = await execute(
        docker_image,
        ["trap 'echo ignoring TERM' TERM", "echo ready; while true; do sleep 0.1; done"],
        recorder=_cancel_when_ready(cancel),
        cancel=cancel,
        grace=1,
    )
    canceled_at = next(o.at for o in rec.outputs if b"ready" in o.data)
    ended = time.monotonic()

    assert result.status is JobStatus.CANCELED
    assert "ignoring TERM" in rec.text("stdout")
    assert "SIGKILL" in rec.text("system")
    assert 1.0 <= ended - canceled_at < 8


async def test_cancel_before_start_runs_nothing(docker_image: str) -> None:
    cancel = asyncio.Event()
    cancel.set()
    result, rec = await execute(docker_image, ["echo never"], cancel=cancel)

    assert result.status is JobStatus.CANCELED
    assert rec.events == []


async def test_task_cancellation_propagates_and_removes_the_container(docker_image: str) -> None:
    ready = asyncio.Event()
    rec = Recorder(on_output=lambda r: ready.set() if "ready" in r.text("stdout") else None)
    run_id = f"test-{uuid.uuid4().hex[:12]}"
    assignment = Assignment(
        run_id=run_id,
        job="job",
        attempt=1,
        stage="test",
        image=docker_image,
        script=("echo ready; sleep 30",),
    )
    task = asyncio.create_task(DockerExecutor().run(assignment, Workspace(), rec, asyncio.Event()))
    async with asyncio.timeout(20):
        await ready.wait()
    assert len(await containers_of(run_id)) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await containers_of(run_id) == []


async def test_image_pull_failure_names_the_image(docker_image: str) -> None:
    # A registry under .invalid never resolves: the pull fails fast, with or without
    # network, and nothing is created.
    image = "registry.invalid/xxci/nope:latest"
    started = time.monotonic()
    result, rec = await execute(image, ["true"])

    assert time.monotonic() - started < 30
    assert result.status is JobStatus.FAILED
    assert result.failure_reason is FailureReason.IMAGE_PULL_FAILURE
    assert result.message.startswith(f"image '{image}' could not be pulled: ")
    assert rec.events == []


async def test_unreachable_engine_is_a_system_failure() -> None:
    executor = DockerExecutor(docker_url="unix:///nonexistent/docker.sock")
    assignment = Assignment(
        run_id="r", job="j", attempt=1, stage="s", image="busybox", script=("true",)
    )
    result = await executor.run(assignment, Workspace(), Recorder(), asyncio.Event())

    assert result.status is JobStatus.FAILED
    assert result.failure_reason is FailureReason.SYSTEM_FAILURE
    assert "cannot reach the Docker engine" in result.message
