"""The engine calls a job spares, against the real engine: the image is resolved once
per run (and run by its ID), the API version is asked once, the workspace is unpacked
inside the container (copied in when the image cannot).

The image tests build throwaway images of their own (the test image plus a label, so
each has an ID of its own) under a tag of their own, and remove them afterwards.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_docker_executor import Recorder, Started
from xxci.common.archives import pack_directory
from xxci.common.status import JobStatus
from xxci.worker.docker.engine import DockerEngine
from xxci.worker.docker.executor import DockerExecutor
from xxci.worker.executor import Assignment, Workspace

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]


class Images:
    """Builds images under one throwaway tag; removes every one it built."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.tag = f"xxci-test/resolve-{uuid.uuid4().hex[:10]}:latest"
        self.built: list[str] = []

    def build(self, *lines: str) -> str:
        dockerfile = "\n".join(
            [f"FROM {self.base}", f"LABEL xxci.test.build={uuid.uuid4().hex}", *lines, ""]
        )
        done = subprocess.run(
            ["docker", "build", "-q", "-t", self.tag, "-"],
            input=dockerfile,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        image_id = done.stdout.strip()
        self.built.append(image_id)
        return image_id

    def remove(self, image_id: str) -> None:
        subprocess.run(["docker", "rmi", "-f", image_id], capture_output=True, timeout=60)


@pytest.fixture
def images(docker_image: str) -> Iterator[Images]:
    made = Images(docker_image)
    try:
        yield made
    finally:
        for image_id in made.built:
            made.remove(image_id)


async def run_job(
    executor: DockerExecutor,
    run_id: str,
    image: str,
    script: tuple[str, ...] = ("true",),
    workspace: Workspace | None = None,
    recorder: Recorder | None = None,
) -> tuple[JobStatus, str]:
    """The job's status and the image it reported running."""
    recorder = recorder or Recorder()
    job = Assignment(run_id, f"job-{uuid.uuid4().hex[:6]}", 1, "test", image, script)
    async with asyncio.timeout(60):
        result = await executor.run(job, workspace or Workspace(), recorder, asyncio.Event())
    digests = [e.digest for e in recorder.events if isinstance(e, Started)]
    return result.status, digests[0] if digests else ""


async def test_a_run_keeps_the_image_it_resolved_and_the_next_run_resolves_again(
    images: Images,
) -> None:
    executor = DockerExecutor()
    first = await asyncio.to_thread(images.build)
    assert await run_job(executor, "run-a", images.tag) == (JobStatus.SUCCESS, first)
    second = await asyncio.to_thread(images.build)  # the tag moves; the first image stays
    assert await run_job(executor, "run-a", images.tag) == (JobStatus.SUCCESS, first)
    assert await run_job(executor, "run-b", images.tag) == (JobStatus.SUCCESS, second)


async def test_an_image_removed_during_a_run_is_resolved_again(images: Images) -> None:
    executor = DockerExecutor()
    first = await asyncio.to_thread(images.build)
    assert await run_job(executor, "run-a", images.tag) == (JobStatus.SUCCESS, first)
    await asyncio.to_thread(images.remove, first)
    second = await asyncio.to_thread(images.build)
    assert await run_job(executor, "run-a", images.tag) == (JobStatus.SUCCESS, second)


async def test_a_connection_given_the_settled_api_version_speaks_it(docker_image: str) -> None:
    async with DockerEngine() as engine:
        assert engine.api_version == "auto"
        await engine.ping()
        settled = engine.api_version
    assert re.fullmatch(r"v1\.\d+", settled)
    async with DockerEngine(api_version=settled) as engine:
        assert await engine.image(docker_image) is not None
        assert engine.api_version == settled


async def test_an_image_that_cannot_unpack_gets_the_copy_and_keeps_getting_it(
    images: Images, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user who may not write the workspace cannot unpack into it: the job runs again
    with the engine's copy, once, and the next job on that image is copied at once."""
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "hello.txt").write_text("hello\n")
    source = pack_directory(tmp_path / "repo", tmp_path / "source.tar.gz")
    created: list[str] = []
    create = DockerEngine.create_container

    async def counted(self: DockerEngine, config: Any, name: str | None) -> Any:
        created.append("unpack" if "Mounts" in config["HostConfig"] else "copy")
        return await create(self, config, name)

    monkeypatch.setattr(DockerEngine, "create_container", counted)
    unprivileged = await asyncio.to_thread(images.build, "USER 1000")
    executor = DockerExecutor(unpack_in_container=True)
    for _ in range(2):
        recorder = Recorder()
        status, digest = await run_job(
            executor,
            "run-a",
            images.tag,
            ("id -u", "cat hello.txt"),
            Workspace(source=source),
            recorder,
        )
        assert (status, digest) == (JobStatus.SUCCESS, unprivileged)
        assert recorder.text("stdout") == "1000\nhello\n"
        assert len([e for e in recorder.events if isinstance(e, Started)]) == 1
    assert created == ["unpack", "copy", "copy"]
