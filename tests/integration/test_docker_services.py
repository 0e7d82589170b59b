"""Services and caches in the Docker executor, on the real engine: a network per
attempt with GitLab's aliases, a service that dies first, nothing left behind."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.integration.test_docker_executor import Recorder, execute
from xxci.common.spec.services_cache import Cache, CachePolicy, CacheWhen, Service
from xxci.common.status import FailureReason, JobStatus
from xxci.worker.docker.container_config import LABEL_HOST, LABEL_PID
from xxci.worker.docker.engine import DockerEngine
from xxci.worker.docker.executor import DockerExecutor
from xxci.worker.executor import Workspace

pytestmark = pytest.mark.docker

GET = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 10"
"""An HTTP request with busybox nc (its wget needs a resolver a static image lacks)."""
HTTPD = (
    "sh",
    "-c",
    'mkdir -p /www && echo "hello $GREETING" > /www/index.html && echo serving'
    " && exec httpd -f -v -p 80 -h /www",
)


async def test_a_job_reaches_its_service_by_alias_and_its_log_is_kept(docker_image: str) -> None:
    web = Service(docker_image, ("xxci-test__busybox", "xxci-test-busybox", "web"), command=HTTPD)
    result, rec = await execute(
        docker_image,
        [f"{GET} web 80 | tail -n 1", f"{GET} xxci-test-busybox 80 | tail -n 1"],
        services=(web,),
        variables={"GREETING": "from the job's variables"},
    )
    assert result.status is JobStatus.SUCCESS, result.message
    assert rec.text("stdout") == "hello from the job's variables\n" * 2
    assert "service 'web' started" in rec.text("system")
    assert rec.services["web"].startswith(b"serving\n")
    assert await left_by_this_process() == ([], [])


async def test_a_service_that_exits_first_fails_the_job_with_its_last_lines(
    docker_image: str,
) -> None:
    broken = Service(docker_image, ("db",), command=("sh", "-c", "echo cannot bind; exit 3"))
    result, rec = await execute(docker_image, ["echo never"], services=(broken,))
    assert result.status is JobStatus.FAILED
    assert result.failure_reason is FailureReason.SERVICE_FAILURE
    assert result.message == (
        f"service 'db' ({docker_image}) exited with code 3 before the job started;"
        " its last lines:\ncannot bind"
    )
    assert "never" not in rec.text("stdout")


async def left_by_this_process() -> tuple[list[str], list[str]]:
    """Containers and networks this process made that are still there."""
    mine = {LABEL_HOST: socket.gethostname(), LABEL_PID: str(os.getpid())}
    async with DockerEngine() as engine:
        containers = await engine.container_ids(mine)
        networks = [n for n, _ in await engine.labelled_networks(mine)]
    return containers, networks


async def test_no_network_or_service_is_left_whatever_the_outcome(docker_image: str) -> None:
    web = Service(docker_image, ("web",), command=HTTPD)
    result, _ = await execute(docker_image, ["exit 4"], services=(web,))
    assert (result.status, result.failure_reason) == (
        JobStatus.FAILED,
        FailureReason.SCRIPT_FAILURE,
    )
    assert await left_by_this_process() == ([], [])

    cancel = asyncio.Event()
    recorder = Recorder(on_output=lambda r: cancel.set() if "up" in r.text("stdout") else None)
    result, _ = await execute(
        docker_image,
        ["echo up", "sleep 30"],
        services=(web,),
        cancel=cancel,
        recorder=recorder,
        grace=0.5,
    )
    assert result.status is JobStatus.CANCELED
    assert await left_by_this_process() == ([], [])


async def test_a_cache_is_restored_before_the_script_and_saved_after(
    docker_image: str, tmp_path: Path
) -> None:
    cache_in = tmp_path / "cache.tar"
    with tarfile.open(cache_in, "w") as tar:
        tar.add(_file(tmp_path / "dl.txt", "from the cache\n"), "dl/dl.txt")
    executor = DockerExecutor(artifact_dir=tmp_path)
    result, rec = await execute(
        docker_image,
        ["cat dl/dl.txt", "echo new > dl/new.txt", "echo skipped > other.txt"],
        workspace=Workspace(caches=(cache_in,)),
        caches=(
            Cache(key="k", paths=("dl/",)),
            Cache(key="pull", paths=("dl/",), policy=CachePolicy.PULL),
        ),
        executor=executor,
    )
    assert result.status is JobStatus.SUCCESS
    assert rec.text("stdout") == "from the cache\n"
    assert list(result.caches) == [0]  # the pull-only cache is not saved
    with tarfile.open(result.caches[0]) as tar:
        assert sorted(tar.getnames()) == ["dl", "dl/dl.txt", "dl/new.txt"]


async def test_an_untracked_cache_takes_what_the_source_tree_lacks_and_when_picks_results(
    docker_image: str, tmp_path: Path
) -> None:
    source = tmp_path / "source.tar"
    with tarfile.open(source, "w") as tar:
        tar.add(_file(tmp_path / "tracked.txt", "in git\n"), "tracked.txt")
    result, _ = await execute(
        docker_image,
        ["mkdir -p build", "echo made > build/out.o", "echo notes > notes.txt", "exit 1"],
        workspace=Workspace(source=source),
        caches=(
            Cache(key="untracked", untracked=True, when=CacheWhen.ON_FAILURE),
            Cache(key="on-success", paths=("build/",)),
        ),
        executor=DockerExecutor(artifact_dir=tmp_path),
    )
    assert (result.status, result.failure_reason) == (
        JobStatus.FAILED,
        FailureReason.SCRIPT_FAILURE,
    )
    assert list(result.caches) == [0]  # the failure saves the on_failure cache only
    with tarfile.open(result.caches[0]) as tar:
        files = sorted(m.name for m in tar if m.isfile())
    assert files == ["build/out.o", "notes.txt"]  # not tracked.txt, which is in the tree


def _file(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


async def test_the_orphan_sweep_removes_a_dead_workers_networks_too(docker_image: str) -> None:
    host = socket.gethostname()
    labels = {LABEL_HOST: host, LABEL_PID: str(dead_pid())}
    async with DockerEngine() as engine:
        network = await engine.create_network(f"xxci-test-orphan-{os.getpid()}", labels)
        config = {
            "Image": docker_image,
            "Cmd": ["sleep", "60"],
            "Labels": labels,
            "HostConfig": {"NetworkMode": f"xxci-test-orphan-{os.getpid()}"},
        }
        service = await engine.create_container(config, name=None)
        await service.start()
        try:
            # Two sweeps at once (two workers starting on one host): both end, neither
            # fails on what the other is removing.
            await asyncio.gather(
                DockerExecutor().remove_orphans(), DockerExecutor().remove_orphans()
            )
            assert network not in [n for n, _ in await engine.labelled_networks({LABEL_PID: ""})]
            assert service.id not in await engine.container_ids({LABEL_PID: ""})
        finally:
            await service.remove()
            await engine.remove_network(network)
