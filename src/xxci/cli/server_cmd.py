"""``xxci server``: run an orchestrator."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

import asyncclick as click

from xxci.cli.options import exits_cleanly
from xxci.common.errors import UsageError
from xxci.orchestrator.domain.settings import Settings
from xxci.orchestrator.rpc.server import OrchestratorServer
from xxci.orchestrator.runtime.orchestrator import Orchestrator


@click.command("server")
@click.option(
    "--listen",
    default="0.0.0.0:7420",
    show_default=True,
    envvar="XXCI_LISTEN",
    help="HOST:PORT to serve workers and clients on.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("./xxci-data"),
    show_default=True,
    help="Where the event log (events.db) and blobs live.",
)
@click.option("--token", envvar="XXCI_TOKEN", help="Bearer token every call must carry.")
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--lease-ttl",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds a job attempt survives without a heartbeat from its worker.",
)
@click.option(
    "--heartbeat",
    type=float,
    default=5.0,
    show_default=True,
    help="Seconds between worker heartbeats.",
)
@click.option(
    "--cancel-grace",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds between SIGTERM and SIGKILL when a job is canceled.",
)
@exits_cleanly
async def server(
    listen: str,
    data_dir: Path,
    token: str | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    lease_ttl: float,
    heartbeat: float,
    cancel_grace: float,
) -> None:
    """Run an orchestrator: the event log, the scheduler and the worker endpoint.

    Workers connect with `xxci worker --server HOST:PORT`; clients use `--server`
    or XXCI_SERVER. Stops on SIGINT/SIGTERM; restart it on the same --data-dir and
    unfinished runs carry on.
    """
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    try:
        settings = Settings(
            lease_ttl=lease_ttl, heartbeat_interval=heartbeat, cancel_grace=cancel_grace
        )
    except ValueError as err:
        raise UsageError(str(err)) from None
    orchestrator = Orchestrator(data_dir, settings=settings)
    srv = OrchestratorServer(orchestrator, listen, token=token, tls_cert=tls_cert, tls_key=tls_key)
    await srv.start()
    click.echo(f"xxci orchestrator listening on {listen} (port {srv.port}), data in {data_dir}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        click.echo("shutting down")
        await srv.stop()
