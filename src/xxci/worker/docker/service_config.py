"""What an attempt's service containers and their network are made of. Pure.

Each attempt with services gets a bridge network of its own; every service joins it
with its aliases (GitLab's default ones from the image name, then ``alias``), and so
does the job's container, which reaches a service by any of them. A service gets the
job's variables (not its secrets) and its own over them, as in GitLab.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from xxci.common.spec.services_cache import Service
from xxci.worker.docker.container_config import attempt_labels
from xxci.worker.executor import Assignment

__all__ = ["LABEL_SERVICE", "network_name", "service_config", "service_names"]

LABEL_SERVICE = "xxci.service"
"""On a service container: the service's name (as ``xxci logs --service`` takes it)."""


def service_names(services: Sequence[Service]) -> list[str]:
    """A name per service, unique within the job: its ``alias`` if it has one, else
    the alias GitLab derives from its image (``-2``, ``-3`` ... for a repeat)."""
    names: list[str] = []
    for service in services:
        base = service.aliases[-1] if service.aliases else "service"
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}-{n}"
        names.append(name)
    return names


def network_name(job: Assignment, nonce: str) -> str:
    raw = f"xxci-{job.run_id}-{job.job}-{job.attempt}-{nonce[:8]}"
    return re.sub(r"[^a-zA-Z0-9_.-]+", "_", raw)[-120:].lstrip("_.-") or nonce


def service_config(
    job: Assignment, service: Service, name: str, network: str, host: str, pid: int
) -> dict[str, Any]:
    """The engine API ``ContainerConfig`` of ``service`` (named ``name``) of ``job``."""
    env = {**job.variables, **service.variables}
    config: dict[str, Any] = {
        "Image": service.name,
        "Env": [f"{k}={v}" for k, v in env.items()],
        "Labels": {**attempt_labels(job, host, pid), LABEL_SERVICE: name},
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "HostConfig": {"Init": True, "NetworkMode": network},
        "NetworkingConfig": {"EndpointsConfig": {network: {"Aliases": list(service.aliases)}}},
    }
    if service.entrypoint is not None:
        config["Entrypoint"] = list(service.entrypoint)
    if service.command is not None:
        config["Cmd"] = list(service.command)
    return config
