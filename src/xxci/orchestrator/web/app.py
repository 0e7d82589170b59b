"""The web application: routes, the middlewares every request passes, shared state.

Pages are server-rendered (:mod:`.pages`), the JSON API lives under ``/api/v1/``
(:mod:`.api`), live updates are Server-Sent Events (:mod:`.live`), and static assets
are files of this package: no build step, nothing fetched from elsewhere.

Every response carries a Content-Security-Policy that allows only this server's own
scripts, styles and images (no inline script at all), so even a string that escaped
escaping could not run.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from xxci.common.errors import NotFoundError, XxciError
from xxci.orchestrator.web import api, live, pages, signin
from xxci.orchestrator.web.auth import Sessions
from xxci.orchestrator.web.backend import Backend
from xxci.orchestrator.web.sse import LiveStreams
from xxci.orchestrator.web.state import STATE, Clock, WebState, render, utcnow
from xxci.orchestrator.web.templating import make_templates

__all__ = ["make_app"]

log = logging.getLogger("xxci.web")

STATIC_DIR = Path(__file__).parent / "static"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(
    backend: Backend,
    *,
    token: str | None = None,
    clock: Clock = utcnow,
    secure_cookies: bool = False,
) -> web.Application:
    """The web view of ``backend``; with ``token``, only for those who have it."""
    app = web.Application(middlewares=[_errors, _headers, signin.access])
    app[STATE] = WebState(
        backend, make_templates(), Sessions(token, clock), LiveStreams(), clock, secure_cookies
    )
    app.router.add_get("/", pages.home)
    app.router.add_get("/login", signin.login_form)
    app.router.add_post("/login", signin.login)
    app.router.add_post("/logout", signin.logout)
    app.router.add_get("/runs", pages.runs)
    app.router.add_get("/runs/{run}", pages.run)
    app.router.add_get("/runs/{run}/board", pages.board)
    app.router.add_post("/runs/{run}/cancel", pages.cancel)
    app.router.add_get("/runs/{run}/jobs/{job}", pages.job)
    app.router.add_get("/runs/{run}/jobs/{job}/log.txt", pages.raw_log)
    app.router.add_get("/runs/{run}/jobs/{job}/artifacts/{attempt}", pages.artifacts)
    app.router.add_get("/workers", pages.workers)
    app.router.add_get("/events", pages.events)
    app.router.add_get("/api/v1/runs", api.runs)
    app.router.add_get("/api/v1/runs/{run}", api.run)
    app.router.add_post("/api/v1/runs/{run}/cancel", api.cancel)
    app.router.add_get("/api/v1/runs/{run}/jobs/{job}", api.job)
    app.router.add_get("/api/v1/runs/{run}/jobs/{job}/log", api.log)
    app.router.add_get("/api/v1/runs/{run}/jobs/{job}/log/stream", live.log_stream)
    app.router.add_get("/api/v1/workers", api.workers)
    app.router.add_get("/api/v1/events", api.events)
    app.router.add_get("/api/v1/events/stream", live.event_stream)
    app.router.add_static("/static", STATIC_DIR)
    app.on_shutdown.append(_end_streams)
    return app


def wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/")


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A user's mistake (unknown run, bad filter) is one line with 404 or 400; an
    internal error keeps its traceback in the log and says so."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except XxciError as err:
        status = 404 if isinstance(err, NotFoundError) else 400
        message = str(err)
    except ValueError as err:  # a malformed value that reached a store (e.g. a digest)
        status, message = 400, str(err)
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        status, message = 500, "internal error: see the server log"
    if wants_json(request):
        return web.json_response({"error": message}, status=status)
    title = {404: "Not found", 400: "Bad request"}.get(status, "Error")
    return render(request, "error.html", status=status, title=title, message=message)


@web.middleware
async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


async def _end_streams(app: web.Application) -> None:
    app[STATE].streams.close_all()
