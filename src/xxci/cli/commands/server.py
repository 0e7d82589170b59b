"""``xxci server``: run an orchestrator."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

import asyncclick as click

from xxci.cli.options import Size, exits_cleanly
from xxci.common.errors import UsageError
from xxci.common.spec.limits import SpecLimits
from xxci.orchestrator.application import OrchestratorService
from xxci.orchestrator.domain.limits import Limits
from xxci.orchestrator.domain.settings import Settings
from xxci.orchestrator.rpc.server import OrchestratorServer
from xxci.orchestrator.runtime.orchestrator import Orchestrator
from xxci.orchestrator.store.backends import check_store_url
from xxci.orchestrator.web import WebServer, is_loopback, split_listen


def exposed_without_auth(listen: str, http_listen: str | None, token: str | None) -> list[str]:
    """The addresses among ``listen`` and ``http_listen`` that others could reach
    (not loopback), when there is no token to keep them out; [] with a token."""
    if token:
        return []
    hosts = [(listen, listen.rpartition(":")[0].strip("[]"))]
    if http_listen:
        hosts.append((http_listen, split_listen(http_listen)[0]))  # UsageError if malformed
    return [address for address, host in hosts if not is_loopback(host)]


DEFAULTS = Settings()


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
    help="Where the event log (events.db) and blobs live (SQLite, without --store), and"
    " the job caches and secrets (always).",
)
@click.option(
    "--store",
    metavar="URL",
    envvar="XXCI_STORE",
    help="Keep everything in PostgreSQL instead: postgresql://USER[:PASSWORD]@HOST:PORT/DB "
    "[env XXCI_STORE]. Several servers may share one store and serve at once.",
)
@click.option(
    "--http",
    "http_listen",
    metavar="HOST:PORT",
    envvar="XXCI_HTTP",
    help="Also serve the web view and its JSON API on HOST:PORT (e.g. 127.0.0.1:7421). "
    "Off by default.",
)
@click.option(
    "--token",
    envvar="XXCI_TOKEN",
    help="Bearer token every client call must carry, and workers to register with.",
)
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    help="Serve a non-loopback address without --token (anyone who reaches it may run "
    "jobs). Refused otherwise.",
)
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--lease-ttl",
    type=float,
    default=DEFAULTS.lease_ttl,
    show_default=True,
    help="Seconds a job attempt survives without a heartbeat from its worker.",
)
@click.option(
    "--heartbeat",
    type=float,
    default=DEFAULTS.heartbeat_interval,
    show_default=True,
    help="Seconds between worker heartbeats.",
)
@click.option(
    "--disconnect-grace",
    type=float,
    default=DEFAULTS.disconnect_grace,
    show_default=True,
    help="Seconds a worker whose connection closed keeps its job attempts (a blip).",
)
@click.option(
    "--cancel-grace",
    type=float,
    default=DEFAULTS.cancel_grace,
    show_default=True,
    help="Seconds between SIGTERM and SIGKILL when a job is canceled.",
)
@click.option(
    "--member-ttl",
    type=float,
    default=DEFAULTS.member_ttl,
    show_default=True,
    help="With --store: seconds without a heartbeat before the other servers count "
    "this one gone and take over its workers' jobs.",
)
@click.option(
    "--max-output",
    type=Size(),
    default="16MiB",
    show_default=True,
    help="Output one job attempt may log; past it the log is cut (the job goes on).",
)
@click.option(
    "--max-artifacts",
    type=Size(),
    default="1GiB",
    show_default=True,
    help="Artifacts one job attempt may keep; past it the rest are left out.",
)
@click.option(
    "--max-upload",
    type=Size(),
    default="2GiB",
    show_default=True,
    help="Largest blob (source tree or artifact archive) the server accepts.",
)
@click.option(
    "--max-pipeline-size",
    type=Size(),
    default="2MiB",
    show_default=True,
    help="Largest pipeline file the server reads.",
)
@click.option(
    "--max-pipeline-cpu",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="CPU seconds the server spends reading one pipeline file.",
)
@click.option(
    "--max-jobs",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Most jobs one run may have.",
)
@click.option(
    "--cache-max-bytes",
    type=Size(),
    default="5GiB",
    show_default=True,
    help="Size the job caches may take together (e.g. 500MiB, 5GiB); the least"
    " recently used are evicted past it.",
)
@exits_cleanly
async def server(
    listen: str,
    data_dir: Path,
    store: str | None,
    member_ttl: float,
    http_listen: str | None,
    token: str | None,
    insecure_no_auth: bool,
    tls_cert: Path | None,
    tls_key: Path | None,
    lease_ttl: float,
    heartbeat: float,
    disconnect_grace: float,
    cancel_grace: float,
    max_output: int,
    max_artifacts: int,
    max_upload: int,
    max_pipeline_size: int,
    max_pipeline_cpu: float,
    max_jobs: int,
    cache_max_bytes: int,
) -> None:
    """Run an orchestrator: the event log, the scheduler and the worker endpoint.

    Workers connect with `xxci worker --server HOST:PORT`; clients use `--server`
    or XXCI_SERVER. With --http, the same process also serves the web view (pages,
    the JSON API under /api/v1/, live updates); with --token it asks for the token
    too. Stops on SIGINT/SIGTERM; restart it on the same --data-dir and unfinished
    runs carry on.

    With --store postgresql://..., the log, logs, reports and blobs live in that
    database, and several servers may serve it at once: give workers and clients every
    address (--server a:7420,b:7420) and they move to the next when one is down.

    Without --token it serves loopback addresses only, unless --insecure-no-auth says
    otherwise (with a warning).
    """
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    exposed = ", ".join(exposed_without_auth(listen, http_listen, token))
    if exposed and not insecure_no_auth:
        raise UsageError(
            f"refusing to serve {exposed} without a token (anyone who can reach it could run"
            " jobs and read every log): pass --token or set XXCI_TOKEN, listen on a loopback"
            " address, or pass --insecure-no-auth"
        )
    if exposed:
        click.echo(
            f"warning: serving {exposed} without a token (--insecure-no-auth): anyone who"
            " can reach it can run jobs, read every log and register workers",
            err=True,
        )
    try:
        settings = Settings(
            lease_ttl=lease_ttl,
            heartbeat_interval=heartbeat,
            disconnect_grace=disconnect_grace,
            cancel_grace=cancel_grace,
            member_ttl=member_ttl,
            cache_max_bytes=cache_max_bytes,
        )
    except ValueError as err:
        raise UsageError(str(err)) from None
    limits = Limits(
        spec=SpecLimits(
            max_bytes=max_pipeline_size, max_jobs=max_jobs, cpu_seconds=max_pipeline_cpu
        ),
        output_bytes=max_output,
        artifact_bytes=max_artifacts,
        upload_bytes=max_upload,
    )
    if store is not None:
        check_store_url(store)
    orchestrator = Orchestrator(
        data_dir, settings=settings, store=store, address=listen, limits=limits
    )
    srv = OrchestratorServer(orchestrator, listen, token=token, tls_cert=tls_cert, tls_key=tls_key)
    view = None
    if http_listen:
        backend = OrchestratorService(orchestrator)
        view = WebServer(  # checks HOST:PORT before anything starts
            backend, http_listen, token=token, tls_cert=tls_cert, tls_key=tls_key
        )
    await srv.start()
    where = orchestrator.store_where
    click.echo(f"xxci orchestrator listening on {listen} (port {srv.port}), data in {where}")
    try:
        if view is not None:
            await view.start()
            click.echo(f"web view at {view.url}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        click.echo("shutting down")
        if view is not None:
            await view.stop()
        await srv.stop()


command = server
