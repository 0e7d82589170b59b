"""What a job's container is made of: its engine configuration, name, labels and files.

Pure: nothing here talks to the engine, so the configuration is tested without Docker.

The container runs Docker's init (``HostConfig.Init``, tini) as PID 1 with
``TINI_KILL_PROCESS_GROUP=1``: a SIGTERM reaches the job's shell *and* the command it
is running, and zombies are reaped. The job script (see
:mod:`xxci.worker.docker.script`) goes in with the archive API, not a bind mount, so a
remote engine works the same.
"""

from __future__ import annotations

import io
import re
import tarfile
from typing import Any

from xxci.worker.docker.script import render_wrapper
from xxci.worker.executor import Assignment

__all__ = [
    "LABEL_ATTEMPT",
    "LABEL_HOST",
    "LABEL_JOB",
    "LABEL_PID",
    "LABEL_RUN",
    "WORKSPACE",
    "bootstrap_archive",
    "container_config",
    "container_name",
]

LABEL_RUN = "xxci.run"
LABEL_JOB = "xxci.job"
LABEL_ATTEMPT = "xxci.attempt"
LABEL_HOST = "xxci.worker.host"
LABEL_PID = "xxci.worker.pid"
"""Which worker process made a container: how a restarted worker finds the containers
of a predecessor that died (``DockerExecutor.remove_orphans``)."""

WORKSPACE = "/workspace"
SCRIPT_DIR = ".xxci"
SCRIPT_PATH = f"/{SCRIPT_DIR}/run.sh"


def container_config(job: Assignment, host: str, pid: int) -> dict[str, Any]:
    """The engine API ``ContainerConfig`` for ``job``, made by worker process ``pid``
    on ``host``."""
    env = [f"{k}={v}" for k, v in job.variables.items()]
    # tini (the container's init) signals the whole process group: the script's
    # shell and whatever command it runs get the SIGTERM of a cancel.
    env.append("TINI_KILL_PROCESS_GROUP=1")
    return {
        "Image": job.image,
        "Entrypoint": ["/bin/sh", SCRIPT_PATH],
        "Cmd": [],
        "WorkingDir": WORKSPACE,
        "Env": env,
        "Labels": {
            LABEL_RUN: job.run_id,
            LABEL_JOB: job.job,
            LABEL_ATTEMPT: str(job.attempt),
            LABEL_HOST: host,
            LABEL_PID: str(pid),
        },
        "AttachStdin": False,
        "AttachStdout": True,
        "AttachStderr": True,
        "OpenStdin": False,
        "Tty": False,
        "HostConfig": {"Init": True},
    }


def container_name(job: Assignment, nonce: str) -> str:
    """A readable container name, unique by the attempt's ``nonce``."""
    raw = f"xxci-{job.run_id}-{job.job}-{job.attempt}-{nonce[:8]}"
    return re.sub(r"[^a-zA-Z0-9_.-]+", "_", raw)[-120:].lstrip("_.-") or nonce


def bootstrap_archive(job: Assignment, nonce: str) -> bytes:
    """A tar, unpacked at ``/``, holding ``/workspace/`` and the job script."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, mode in (("workspace", 0o755), (SCRIPT_DIR, 0o700)):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = mode
            tar.addfile(info)
        data = render_wrapper(job.script, nonce).encode()
        info = tarfile.TarInfo(SCRIPT_PATH.lstrip("/"))
        info.size = len(data)
        info.mode = 0o600
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
