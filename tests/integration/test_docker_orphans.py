"""A worker that starts removes the containers a dead worker process of its host left."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from xxci.worker.docker.container_config import LABEL_HOST, LABEL_PID
from xxci.worker.docker.engine import DockerEngine
from xxci.worker.docker.executor import DockerExecutor


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


async def test_only_containers_of_dead_local_workers_are_removed(docker_image: str) -> None:
    host = socket.gethostname()
    owners = {
        "dead": {LABEL_HOST: host, LABEL_PID: str(dead_pid())},
        "alive": {LABEL_HOST: host, LABEL_PID: str(os.getpid())},
        "elsewhere": {LABEL_HOST: f"{host}-other", LABEL_PID: "1"},
    }
    async with DockerEngine() as engine:
        ids = {}
        for name, labels in owners.items():
            config = {"Image": docker_image, "Cmd": ["sleep", "60"], "Labels": labels}
            container = await engine.create_container(config, name=None)
            await container.start()
            ids[name] = container.id
        try:
            removed = await DockerExecutor().remove_orphans()
            # Other workers on this host share the engine and may clear the dead one
            # first: what counts is that it is gone, and that the others are not.
            assert ids["alive"] not in removed and ids["elsewhere"] not in removed
            left = {cid for cid, _ in await engine.labelled({LABEL_PID: ""})}
            assert ids["dead"] not in left
            assert {ids["alive"], ids["elsewhere"]} <= left
        finally:
            for cid in ids.values():
                await engine.container(cid).remove()
