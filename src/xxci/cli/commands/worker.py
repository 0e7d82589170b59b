"""``xxci worker``: run a worker that serves an orchestrator, jobs in Docker; its
subcommands (``ls``, ``revoke``, in :mod:`xxci.cli.commands.workers`) manage the
workers' identities."""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import asyncclick as click

from xxci.cli.commands import workers
from xxci.cli.options import Size
from xxci.common.errors import XxciError
from xxci.worker.connection.agent import WorkerAgent

if TYPE_CHECKING:
    from xxci.worker.docker.executor import DockerExecutor

__all__ = ["worker"]


def _make_executor(work_dir: Path, default_image: str | None = None) -> DockerExecutor:
    """The executor jobs run in (Docker); imported late so other commands need no Docker.

    Artifact archives are staged under ``work_dir`` (the worker deletes each one once
    uploaded), and so are the workspace archives made ready for containers.
    """
    from xxci.worker.docker.container_files import BodyCache
    from xxci.worker.docker.executor import DockerExecutor

    artifacts = work_dir / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    return DockerExecutor(
        artifact_dir=artifacts, bodies=BodyCache(work_dir / "bodies"), default_image=default_image
    )


async def _remove_orphans(executor: DockerExecutor) -> None:
    """Clear containers that a killed worker process on this host left running."""
    try:
        removed = await executor.remove_orphans()
    except Exception as err:  # the engine may be down now and up later: not fatal
        logging.getLogger("xxci.worker").warning("could not look for orphaned containers: %s", err)
        return
    if removed:
        logging.getLogger("xxci.worker").info(
            "removed %d container(s) and network(s) left by a worker process that died",
            len(removed),
        )


async def _serve(agent: WorkerAgent) -> None:
    """Run ``agent``; the first SIGINT/SIGTERM drains it, the second stops it hard."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    received = 0

    def on_signal() -> None:
        nonlocal received
        received += 1
        if received == 1:
            click.echo(
                "draining: finishing running jobs (interrupt again to cancel them)", err=True
            )
            agent.request_stop(drain=True)
        else:
            click.echo("stopping: canceling running jobs", err=True)
            agent.request_stop(drain=False)
            for sig in signals:  # a third signal gets the default behaviour
                loop.remove_signal_handler(sig)

    for sig in signals:
        loop.add_signal_handler(sig, on_signal)
    try:
        await agent.run()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


@click.group("worker", invoke_without_command=True)
@click.option(
    "--server",
    envvar="XXCI_SERVER",
    metavar="HOST:PORT",
    help="Orchestrator address; several, comma-separated, for orchestrators sharing a "
    "store: the next is used when one is down [env XXCI_SERVER]; required.",
)
@click.option(
    "--token",
    envvar="XXCI_TOKEN",
    help="The orchestrator's token, to register with [env XXCI_TOKEN].",
)
@click.option("--name", default=socket.gethostname, show_default="hostname", help="Worker name.")
@click.option(
    "--capacity",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Jobs run at the same time.",
)
@click.option("--label", "labels", multiple=True, help="A label jobs can ask for (repeatable).")
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where job files are staged and the worker's credential is kept [default: a"
    " temporary directory, so a new identity each start].",
)
@click.option(
    "--register",
    is_flag=True,
    help="Register anew (with --token), replacing the credential in the work dir: after"
    " a revocation, or to become a new worker.",
)
@click.option(
    "--tls-ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CA certificate (PEM) to verify the orchestrator with; enables TLS.",
)
@click.option(
    "--default-image",
    envvar="XXCI_DEFAULT_IMAGE",
    metavar="IMAGE",
    help="The image of a job that names none (a .gitlab-ci.yml job without image)"
    " [env XXCI_DEFAULT_IMAGE; default: xxci-test/busybox:latest if the engine has it,"
    " else alpine:latest].",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where this worker keeps its copies of job caches, by digest, so a warm worker"
    " restores without downloading [default: WORK_DIR/cache].",
)
@click.option(
    "--cache-max-bytes",
    type=Size(),
    default="5GiB",
    show_default=True,
    help="Size of those copies together; the least recently used go past it.",
)
@click.pass_context
async def worker(
    ctx: click.Context,
    server: str | None,
    token: str | None,
    name: str,
    capacity: int,
    labels: tuple[str, ...],
    work_dir: Path | None,
    register: bool,
    tls_ca: Path | None,
    default_image: str | None,
    cache_dir: Path | None,
    cache_max_bytes: int,
) -> None:
    """Serve an orchestrator: hold a connection to it and run the jobs it assigns.

    The worker dials out and reconnects by itself; running jobs survive a short
    disconnect. Ctrl-C (or SIGTERM) drains: no new jobs, running ones finish. A second
    one cancels the running jobs.

    The first time, the worker registers with --token and keeps the credential it is
    given in its work dir (mode 0600); from then on it connects as that worker, with
    that credential alone. A worker whose credential was revoked stops: start it again
    with --register. `xxci worker ls` lists the workers, `xxci worker revoke ID`
    revokes one.
    """
    if ctx.invoked_subcommand is not None:
        return
    if not server:
        raise click.UsageError("Missing option '--server' (or XXCI_SERVER).")
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    temporary = work_dir is None
    root = Path(tempfile.mkdtemp(prefix="xxci-worker-")) if work_dir is None else work_dir

    def connected(worker_id: str) -> None:
        click.echo(f"worker '{name}' connected to {server} as {worker_id} (capacity {capacity})")

    def registered(worker_id: str, path: Path) -> None:
        click.echo(
            f"worker '{name}' registered with {server} as {worker_id} (credential in {path})"
        )

    try:
        executor = _make_executor(root, default_image)
        await _remove_orphans(executor)
        agent = WorkerAgent(
            server,
            token,
            name,
            capacity,
            labels,
            executor,
            root,
            tls_ca=tls_ca,
            on_connected=connected,
            on_registered=registered,
            register=register,
            cache_dir=cache_dir,
            cache_max_bytes=cache_max_bytes,
        )
        await _serve(agent)
    except XxciError as err:
        click.echo(f"error: {err}", err=True)
        raise SystemExit(err.exit_code) from err
    finally:
        if temporary:
            shutil.rmtree(root, ignore_errors=True)


worker.add_command(workers.ls)
worker.add_command(workers.revoke)

command = worker
