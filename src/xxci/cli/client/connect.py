"""Which orchestrator a command talks to: ``--local``, ``--server``, token and TLS."""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncclick as click

from xxci.common.api import OrchestratorApi
from xxci.common.errors import UsageError

__all__ = ["again_flags", "connect", "server_options", "xxci_home"]

F = TypeVar("F", bound=Callable[..., Any])


def xxci_home() -> Path:
    """Where local state lives: ``$XXCI_HOME`` (default ``~/.xx-pipeline``)."""
    return Path(os.environ.get("XXCI_HOME") or Path.home() / ".xx-pipeline").expanduser()


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
            help="The orchestrator to talk to; several, comma-separated, for orchestrators "
            "sharing a store: the next is used when one is down (env XXCI_SERVER).",
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


def again_flags(local: bool, server: str | None, tls_ca: Path | None = None) -> str:
    """The options that reach this orchestrator again, for a command a user may paste
    ("--local", or "--server HOST:PORT" with "--tls-ca PATH"); never the token, which
    stays where the user keeps it (XXCI_TOKEN)."""
    if local:
        return "--local"
    flags = ["--server", server or ""]
    if tls_ca is not None:
        flags += ["--tls-ca", str(tls_ca)]
    return shlex.join(flags)


@contextlib.asynccontextmanager
async def connect(
    local: bool,
    server: str | None,
    token: str | None,
    tls_ca: Path | None = None,
    *,
    jobs: int = 0,
    existing: bool = False,
) -> AsyncIterator[OrchestratorApi]:
    """The orchestrator's API: ``--local`` (which wins over XXCI_SERVER) or the one at
    ``server``; UsageError when neither is given.

    ``jobs``: with ``--local``, also run a worker of that capacity in this process.
    ``existing``: with ``--local``, NotFoundError when there is no local log yet.
    """
    if local:
        from xxci.cli.client.local import local_api  # the orchestrator: only for --local

        async with local_api(xxci_home(), jobs=jobs, existing=existing) as api:
            yield api
        return
    if not server:
        raise UsageError(
            "no orchestrator given: pass --server HOST:PORT, set XXCI_SERVER, or use --local"
        )
    from xxci.cli.client.remote import GrpcClient

    async with GrpcClient(server, token, tls_ca) as client:
        yield client
