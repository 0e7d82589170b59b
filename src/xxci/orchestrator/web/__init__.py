"""The web view: another edge of the orchestrator, beside ``rpc``.

Pages, a JSON API under ``/api/v1/`` and live Server-Sent Events, served by
``aiohttp.web`` in the orchestrator's own event loop (``xxci server --http``) or by
``xxci web --local``. It reads through :class:`Backend`, the client API the CLI uses
too (:class:`~xxci.common.api.OrchestratorApi`), and never imports ``rpc``; only the
wiring (the CLI) imports it.
"""

from xxci.orchestrator.web.app import make_app
from xxci.orchestrator.web.backend import Backend, CancelAnswer
from xxci.orchestrator.web.server import WebServer, is_loopback, split_listen

__all__ = [
    "Backend",
    "CancelAnswer",
    "WebServer",
    "is_loopback",
    "make_app",
    "split_listen",
]
