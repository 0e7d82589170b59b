"""Where one job's time goes inside the Docker executor, call by call.

    .venv/bin/python benchmarks/docker_phases.py [--jobs 20] [--parallel 1] [--copy]

Runs ``--jobs`` jobs (``echo hello`` then ``true`` on the busybox test image, with a
small source tree) through the real :class:`DockerExecutor`, ``--parallel`` at a
time, and prints the median wall time of each engine call it makes (image inspect,
create, the archive copy, start, wait, remove), of the time until the job reported
started, and of the whole job. The workspace is unpacked inside the container when
the engine is on this host; ``--copy`` has the engine copy it in instead. The engine
calls are timed by wrapping the methods of ``xxci.worker.docker.engine``; nothing
else changes.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from xxci.common.archives import pack_directory
from xxci.worker.docker import engine
from xxci.worker.docker.container_files import BodyCache
from xxci.worker.docker.executor import DockerExecutor
from xxci.worker.executor import Assignment, Workspace

IMAGE = "xxci-test/busybox:latest"
TIMES: dict[str, list[float]] = defaultdict(list)


def timed(cls: type, name: str) -> None:
    method: Callable[..., Awaitable[Any]] = getattr(cls, name)

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await method(*args, **kwargs)
        finally:
            TIMES[name].append(time.perf_counter() - started)

    setattr(cls, name, wrapper)


class Listener:
    def __init__(self, began: float) -> None:
        self.began = began

    async def started(self, container: str, image_digest: str) -> None:
        TIMES["(until started)"].append(time.perf_counter() - self.began)

    async def output(self, stream: str, data: bytes) -> None:
        pass

    async def step_finished(self, index: int, exit_code: int) -> None:
        pass

    async def service_output(self, service: str, data: bytes) -> None:
        pass


async def main(jobs: int, parallel: int, copy: bool) -> None:
    for name in ("image", "create_container"):
        timed(engine.DockerEngine, name)
    for name in ("put_archive", "start", "wait", "remove"):
        timed(engine.Container, name)
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "repo"
        (tree / "src").mkdir(parents=True)
        (tree / "README").write_text("hello\n")
        (tree / "src" / "main.c").write_text("int main(void) { return 0; }\n" * 50)
        source = pack_directory(tree, Path(tmp) / "source.tar.gz")
        executor = DockerExecutor(
            bodies=BodyCache(Path(tmp) / "bodies"), unpack_in_container=False if copy else None
        )

        async def one(i: int) -> None:
            began = time.perf_counter()
            job = Assignment("bench", f"j{i}", 1, "s", IMAGE, ("echo hello", "true"))
            await executor.run(job, Workspace(source=source), Listener(began), asyncio.Event())
            TIMES["(whole job)"].append(time.perf_counter() - began)

        for first in range(0, jobs, parallel):
            await asyncio.gather(*(one(i) for i in range(first, min(jobs, first + parallel))))
    print(f"{jobs} jobs, {parallel} at a time: median (min-max) ms")
    for name, values in TIMES.items():
        spread = f"{min(values) * 1000:.0f}-{max(values) * 1000:.0f}"
        print(f"  {name:<18} {statistics.median(values) * 1000:7.0f}  ({spread})  n={len(values)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--copy", action="store_true", help="the engine copies the workspace")
    args = parser.parse_args()
    asyncio.run(main(args.jobs, args.parallel, args.copy))
