"""``xxci web --local``: the web view of the local orchestrator.

The view asks the local orchestrator through the same API as every ``--local``
command: the one this process runs, or the one a ``xxci run --local`` in another
terminal runs (then the pages follow that run live, and a cancel goes to it). It
listens on loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

import asyncclick as click

from xxci.cli.client.connect import connect, xxci_home
from xxci.cli.options import exits_cleanly
from xxci.common.errors import UsageError
from xxci.orchestrator.web import WebServer, is_loopback, split_listen

DEFAULT_HTTP = "127.0.0.1:7421"


@click.command("web")
@click.option(
    "--local",
    is_flag=True,
    help="Serve the local orchestrator's runs ($XXCI_HOME, default ~/.xx-pipeline).",
)
@click.option(
    "--http",
    "http_listen",
    metavar="HOST:PORT",
    default=DEFAULT_HTTP,
    show_default=True,
    help="Where to serve it: a loopback address only.",
)
@click.option(
    "--token",
    envvar="XXCI_WEB_TOKEN",
    help="Ask for this token before showing anything (env XXCI_WEB_TOKEN).",
)
@exits_cleanly
async def web(local: bool, http_listen: str, token: str | None) -> None:
    """Serve the web view of the local runs: runs, logs, workers, events, time travel.

    Pages update live while a `xxci run --local` goes on in another terminal. The
    JSON API is under /api/v1/ (see README). An orchestrator started with
    `xxci server --http HOST:PORT` serves its own view; this command is for --local.
    Stops on Ctrl-C.
    """
    if not local:
        raise UsageError(
            "xxci web serves the local log: pass --local"
            " (a server serves its own view: xxci server --http HOST:PORT)"
        )
    host, _ = split_listen(http_listen)
    if not is_loopback(host):
        raise UsageError(f"--http must be a loopback address for --local, not {host!r}")
    home = xxci_home()
    async with connect(True, None, None) as api:
        view = WebServer(api, http_listen, token=token)
        await view.start()
        click.echo(f"web view of {home / 'local.db'} at {view.url} (Ctrl-C stops it)")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):
                    loop.remove_signal_handler(sig)
            await view.stop()


command = web
