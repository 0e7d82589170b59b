"""The access check every request passes, and the sign-in and sign-out forms.

The rules are :mod:`.auth`'s: a bearer token or a session cookie when the server
has a token, a CSRF token on every POST a browser could have been tricked into.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from aiohttp import web

from xxci.orchestrator.web.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Sessions,
    bearer_token,
    safe_next,
    same_origin,
)
from xxci.orchestrator.web.state import CSRF_KEY, STATE, render

__all__ = ["access", "login", "login_form", "logout"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REFUSED = "missing or invalid token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _is_public(path: str) -> bool:
    return path == "/login" or path.startswith("/static/")


@web.middleware
async def access(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    sessions = state.sessions
    csrf = request.cookies.get(CSRF_COOKIE, "")
    fresh_csrf = ""
    if len(csrf) < 16:
        csrf = fresh_csrf = secrets.token_urlsafe(24)
    request[CSRF_KEY] = csrf
    header = request.headers.get("Authorization")
    bearer = bearer_token(header)
    by_bearer = False
    if header is not None:
        if not sessions.open and (bearer is None or not sessions.token_matches(bearer)):
            return _refuse(request, explicit=True)
        by_bearer = bearer is not None
    elif (
        not sessions.open
        and not _is_public(request.path)
        and not sessions.valid(request.cookies.get(SESSION_COOKIE, ""))
    ):
        return _refuse(request)
    if request.method not in SAFE_METHODS and not by_bearer:
        problem = await _csrf_problem(request, csrf if not fresh_csrf else "")
        if problem:
            return _forbidden(request, problem)
    response = await handler(request)
    if fresh_csrf and not response.prepared:
        response.set_cookie(
            CSRF_COOKIE,
            fresh_csrf,
            httponly=True,
            samesite="Lax",
            path="/",
            secure=state.secure_cookies,
        )
    return response


async def _csrf_problem(request: web.Request, expected: str) -> str:
    scheme = "https" if request.app[STATE].secure_cookies else "http"
    if not same_origin(request.headers.get("Origin"), scheme, request.host):
        return "this form was sent from another site"
    if request.content_type == "application/json":
        return ""  # no page of another site can send this without the server's consent
    given = request.headers.get("X-CSRF-Token", "")
    if not given and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        given = str((await request.post()).get("csrf", ""))
    if not expected or not given or not secrets.compare_digest(given, expected):
        return "this form has expired: reload the page and try again"
    return ""


def _refuse(request: web.Request, explicit: bool = False) -> web.StreamResponse:
    """401 for the API and for a wrong ``Authorization`` header; a browser without a
    session is sent to the sign-in form."""
    if explicit or request.path.startswith("/api/"):
        return web.json_response(
            {"error": REFUSED}, status=401, headers={"WWW-Authenticate": "Bearer"}
        )
    if request.method in SAFE_METHODS:
        raise web.HTTPSeeOther(f"/login?{_next_query(request.path_qs)}")
    return render(request, "login.html", status=401, error="Sign in first.", next="/")


def _forbidden(request: web.Request, problem: str) -> web.StreamResponse:
    if request.path.startswith("/api/"):
        return web.json_response({"error": problem}, status=403)
    return render(request, "error.html", status=403, title="Refused", message=problem)


def _next_query(path: str) -> str:
    return urlencode({"next": path})


async def login_form(request: web.Request) -> web.StreamResponse:
    sessions = request.app[STATE].sessions
    target = safe_next(request.query.get("next"))
    if sessions.open or sessions.valid(request.cookies.get(SESSION_COOKIE, "")):
        raise web.HTTPSeeOther(target)
    return render(request, "login.html", error="", next=target)


async def login(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    form = await request.post()
    target = safe_next(str(form.get("next", "")))
    if state.sessions.open:
        raise web.HTTPSeeOther(target)
    if not state.sessions.token_matches(str(form.get("token", ""))):
        return render(
            request, "login.html", status=401, error="That is not this server's token.", next=target
        )
    response = web.HTTPSeeOther(target)
    _set_session(response, state.sessions, state.secure_cookies)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def _set_session(response: web.StreamResponse, sessions: Sessions, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        sessions.issue(),
        max_age=sessions.max_age,
        httponly=True,
        samesite="Lax",
        path="/",
        secure=secure,
    )
