"""The web view served on one HOST:PORT, in the caller's event loop."""

from __future__ import annotations

import ipaddress
import logging
import ssl
from pathlib import Path

from aiohttp import web

from xxci.common.errors import UsageError
from xxci.orchestrator.web.app import make_app
from xxci.orchestrator.web.backend import Backend
from xxci.orchestrator.web.state import Clock, utcnow

__all__ = ["WebServer", "is_loopback", "split_listen"]

log = logging.getLogger("xxci.web")

SHUTDOWN_SECONDS = 2.0


def split_listen(listen: str) -> tuple[str, int]:
    """``("127.0.0.1", 7421)`` for ``127.0.0.1:7421`` (``[::1]:7421`` for IPv6);
    UsageError for anything else."""
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise UsageError(f"--http takes HOST:PORT (e.g. 127.0.0.1:7421), not {listen!r}")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebServer:
    """The web view of ``backend`` on ``listen``; ``url`` is known after ``start``."""

    def __init__(
        self,
        backend: Backend,
        listen: str,
        *,
        token: str | None = None,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.host, self.port = split_listen(listen)
        self._tls = (tls_cert, tls_key)
        secure = bool(tls_cert and tls_key)
        self.app = make_app(backend, token=token, clock=clock, secure_cookies=secure)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if all(self._tls) else "http"
        return f"{scheme}://{host}:{self.port}/"

    async def start(self) -> None:
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
        await runner.setup()
        context = None
        cert, key = self._tls
        if cert and key:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
        site = web.TCPSite(runner, self.host, self.port, ssl_context=context)
        try:
            await site.start()
        except OSError as err:
            await runner.cleanup()
            raise UsageError(
                f"cannot serve the web view on {self.host}:{self.port}: {err.strerror}"
            ) from err
        if self.port == 0:
            self.port = int(runner.addresses[0][1])
        self._runner = runner
        log.info("web view on %s", self.url)

    async def stop(self) -> None:
        """End the live streams and stop serving. Safe to call twice."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
