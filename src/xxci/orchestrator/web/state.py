"""What every handler shares (:class:`WebState`), and the helpers they all use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jinja2
from aiohttp import web

from xxci.common.errors import UsageError
from xxci.orchestrator.web.auth import CSRF_COOKIE, Sessions
from xxci.orchestrator.web.backend import Backend
from xxci.orchestrator.web.sse import LiveStreams

__all__ = ["CSRF_KEY", "STATE", "Clock", "WebState", "query_number", "render", "utcnow"]

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class WebState:
    """The orchestrator, the templates, the sessions and the open live streams."""

    backend: Backend
    templates: jinja2.Environment
    sessions: Sessions
    streams: LiveStreams
    clock: Clock
    secure_cookies: bool = False


STATE = web.AppKey("xxci_web", WebState)
CSRF_KEY = web.RequestKey("xxci_csrf", str)
"""The request's CSRF token (from its cookie, or new: the response then sets it)."""


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """The HTML of ``template`` with ``context`` and what every page needs."""
    state = request.app[STATE]
    text = state.templates.get_template(template).render(
        request_path=request.path_qs,
        auth=not state.sessions.open,
        csrf=request.get(CSRF_KEY) or request.cookies.get(CSRF_COOKIE, ""),
        **context,
    )
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def query_number(request: web.Request, name: str, default: int = 0, minimum: int = 0) -> int:
    """A whole-number query parameter; UsageError naming it when it is not one."""
    text = request.query.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{name} must be a whole number, not {text!r}") from None
    if value < minimum:
        raise UsageError(f"{name} must be at least {minimum}, not {value}")
    return value
