"""Which orchestrator a command talks to: ``--local``, ``--server``, token and TLS."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncclick as click

from xxci.cli.client import Client
from xxci.cli.local import local_orchestrator
from xxci.common.errors import (
    UsageError,
)

F = TypeVar("F", bound=Callable[..., Any])


def server_options(command: F) -> F:
    """``--local`` / ``--server`` / ``--token`` / ``--tls-ca``: which orchestrator."""
    options = [
        click.option(
            "--local",
            is_flag=True,
            help="Use the local orchestrator and event log ($XXCI_HOME, default ~/.xx-pipeline).",
        ),
        click.option(
            "--server",
            envvar="XXCI_SERVER",
            metavar="HOST:PORT",
            help="The orchestrator to talk to (env XXCI_SERVER).",
        ),
        click.option("--token", envvar="XXCI_TOKEN", help="Bearer token (env XXCI_TOKEN)."),
        click.option(
            "--tls-ca",
            type=click.Path(dir_okay=False, exists=True, path_type=Path),
            help="CA certificate: talk TLS to the orchestrator.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@contextlib.asynccontextmanager
async def connect(
    local: bool,
    server: str | None,
    token: str | None,
    tls_ca: Path | None = None,
    with_worker: bool = True,
) -> AsyncIterator[Client]:
    """A client for ``--local`` (starting the in-process orchestrator) or ``--server``."""
    if local:
        async with (
            local_orchestrator(with_worker=with_worker) as endpoint,
            Client(endpoint.address, endpoint.token) as client,
        ):
            yield client
        return
    if not server:
        raise UsageError(
            "no orchestrator given: pass --server HOST:PORT, set XXCI_SERVER, or use --local"
        )
    async with Client(server, token, tls_ca) as client:
        yield client
