"""What a job's container is made of: its engine configuration, name, labels and files.

Pure: nothing here talks to the engine, so the configuration is tested without Docker.

The container runs Docker's init (``HostConfig.Init``, tini) as PID 1 with
``TINI_KILL_PROCESS_GROUP=1``: a SIGTERM reaches the job's shell *and* the command it
is running, and zombies are reaped. The job script (see
:mod:`xxci.worker.docker.script`) is the ``sh -c`` argument, so no file has to be
copied in for it; one too long for an argument goes in as a file with the workspace
(see :mod:`xxci.worker.docker.container_files`), never through a bind mount, so a
remote engine works the same.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from xxci.worker.executor import Assignment, secret_file_path

__all__ = [
    "LABEL_ATTEMPT",
    "LABEL_HOST",
    "LABEL_JOB",
    "LABEL_PID",
    "LABEL_RUN",
    "WORKSPACE",
    "attempt_labels",
    "container_config",
    "container_name",
    "script_file",
    "secret_files",
]

LABEL_RUN = "xxci.run"
LABEL_JOB = "xxci.job"
LABEL_ATTEMPT = "xxci.attempt"
LABEL_HOST = "xxci.worker.host"
LABEL_PID = "xxci.worker.pid"
"""Which worker process made a container: how a restarted worker finds the containers
of a predecessor that died (``DockerExecutor.remove_orphans``)."""

WORKSPACE = "/workspace"
SCRIPT_PATH = "/.xxci/run.sh"
INLINE_SCRIPT_BYTES = 64 * 1024
"""The longest script passed as the ``sh -c`` argument (Linux allows 128 KiB per
argument); a longer one is a file."""


def _inline(wrapper: str) -> bool:
    return len(wrapper.encode()) <= INLINE_SCRIPT_BYTES


def script_file(wrapper: str) -> tuple[str, bytes] | None:
    """Where the script goes as a file and its bytes; None when it is passed inline."""
    return None if _inline(wrapper) else (SCRIPT_PATH, wrapper.encode())


def attempt_labels(job: Assignment, host: str, pid: int) -> dict[str, str]:
    """The labels of everything an attempt makes (its container, its services and
    their network): which attempt, and which worker process made it."""
    return {
        LABEL_RUN: job.run_id,
        LABEL_JOB: job.job,
        LABEL_ATTEMPT: str(job.attempt),
        LABEL_HOST: host,
        LABEL_PID: str(pid),
    }


def container_config(
    job: Assignment,
    host: str,
    pid: int,
    wrapper: str,
    *,
    image: str | None = None,
    unpack: tuple[str, list[dict[str, Any]]] | None = None,
    network: str | None = None,
) -> dict[str, Any]:
    """The engine API ``ContainerConfig`` for ``job`` running the shell program
    ``wrapper``, made by worker process ``pid`` on ``host``, from ``image`` (the ID
    the job's image resolved to; None: the job's image name). With ``unpack``, the
    ``(program, mounts)`` of :mod:`xxci.worker.docker.unpack`: the container gets the
    mounts and runs the program, which runs ``wrapper`` (inline only) once unpacked.
    On ``network`` (the attempt's own, with its services) if given."""
    env = [f"{k}={v}" for k, v in job.environment.items()]
    # tini (the container's init) signals the whole process group: the script's
    # shell and whatever command it runs get the SIGTERM of a cancel.
    env.append("TINI_KILL_PROCESS_GROUP=1")
    host_config: dict[str, Any] = {"Init": True, **({"NetworkMode": network} if network else {})}
    if unpack is not None and _inline(wrapper):
        unpack_program, mounts = unpack
        program = ["/bin/sh", "-c", unpack_program, "sh", _in_shell(wrapper, job.prefer_bash)]
        host_config["Mounts"] = mounts
    elif _inline(wrapper):
        program = ["/bin/sh", "-c", _in_shell(wrapper, job.prefer_bash)]
    elif job.prefer_bash:
        program = ["/bin/sh", "-c", _bash_or_sh(SCRIPT_PATH)]
    else:
        program = ["/bin/sh", SCRIPT_PATH]
    return {
        "Image": image or job.image,
        **_entrypoint(job, program),
        "WorkingDir": WORKSPACE,
        "Env": env,
        "Labels": attempt_labels(job, host, pid),
        "AttachStdin": False,
        "AttachStdout": True,
        "AttachStderr": True,
        "OpenStdin": False,
        "Tty": False,
        "HostConfig": host_config,
    }


_BASHES = "/usr/local/bin/bash /usr/bin/bash /bin/bash"
"""Where GitLab's runner looks for bash, in its order."""


def _in_shell(wrapper: str, prefer_bash: bool) -> str:
    """The ``sh -c`` program that runs ``wrapper``: itself or, with ``prefer_bash``,
    one that runs it in the image's bash if it has one, else in /bin/sh."""
    if not prefer_bash:
        return wrapper
    return f"__xxci_w={shlex.quote(wrapper)}\n" + _bash_or_sh('-c "$__xxci_w"')


def _bash_or_sh(arguments: str) -> str:
    return (
        f'for __xxci_sh in {_BASHES}; do if [ -x "$__xxci_sh" ]; then '
        f'exec "$__xxci_sh" {arguments}; fi; done; exec /bin/sh {arguments}'
    )


def _entrypoint(job: Assignment, program: list[str]) -> dict[str, Any]:
    """How the container starts ``program``: as its entrypoint, or (GitLab's way) as
    the command of the entrypoint the job names or, with none, of the image's own
    (the engine's default when the config leaves ``Entrypoint`` out)."""
    if any(job.entrypoint):
        return {"Entrypoint": list(job.entrypoint), "Cmd": program}
    if job.image_entrypoint and not job.entrypoint:
        return {"Cmd": program}
    return {"Entrypoint": program, "Cmd": []}


def secret_files(job: Assignment) -> tuple[tuple[str, bytes], ...]:
    """The job's file secrets as ``(path, bytes)``, to go into its one archive (made in
    memory: a secret never touches the worker's disk)."""
    return tuple((secret_file_path(s), s.value) for s in job.secrets if s.file)


def container_name(job: Assignment, nonce: str) -> str:
    """A readable container name, unique by the attempt's ``nonce``."""
    raw = f"xxci-{job.run_id}-{job.job}-{job.attempt}-{nonce[:8]}"
    return re.sub(r"[^a-zA-Z0-9_.-]+", "_", raw)[-120:].lstrip("_.-") or nonce
