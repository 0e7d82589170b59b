"""Who may see the web view, and which forms are the user's own.

When the orchestrator has a token, every page and API call needs one of:

* ``Authorization: Bearer <token>`` (scripts, ``curl``);
* the session cookie the sign-in form sets (browsers): ``<issued>.<nonce>.<mac>``,
  where ``mac`` is an HMAC-SHA256 of ``<issued>.<nonce>`` keyed by the token. It is
  HttpOnly and SameSite=Lax, expires after :data:`SESSION_SECONDS`, and stops
  working when the token changes. The token itself never travels in a URL or a
  cookie.

Without a token the view is open (``xxci web --local`` binds to loopback only).

Every POST that a cookie (or nothing) authenticates must carry the CSRF token: the
value of the ``xxci_csrf`` cookie (random, HttpOnly, SameSite=Lax), rendered into
each form by the server, sent back as the ``csrf`` form field or the
``X-CSRF-Token`` header (double submit); and an ``Origin`` header, when the browser
sends one, must be this server. A call with a valid bearer token needs neither:
a browser never adds that header on its own. Nor does a JSON body (``Content-Type:
application/json``): a page of another site cannot send one without a CORS
preflight, which this server never grants; it still needs this server's Origin.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "SESSION_SECONDS",
    "Sessions",
    "bearer_token",
    "safe_next",
    "same_origin",
]

SESSION_COOKIE = "xxci_session"
CSRF_COOKIE = "xxci_csrf"
SESSION_SECONDS = 7 * 24 * 3600

Clock = Callable[[], datetime]


class Sessions:
    """Checks bearer tokens and issues and checks session cookies for one token."""

    def __init__(self, token: str | None, clock: Clock, max_age: int = SESSION_SECONDS) -> None:
        self.token = token or None
        self._clock = clock
        self.max_age = max_age

    @property
    def open(self) -> bool:
        """True when no token is configured: everyone may look."""
        return self.token is None

    def token_matches(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(
            given.encode("utf-8"), self.token.encode("utf-8")
        )

    def issue(self) -> str:
        """A new session cookie value."""
        body = f"{int(self._clock().timestamp())}.{secrets.token_urlsafe(18)}"
        return f"{body}.{self._mac(body)}"

    def valid(self, value: str) -> bool:
        """Whether ``value`` is a session this token issued that has not expired."""
        if self.token is None:
            return False
        body, _, mac = value.rpartition(".")
        issued, _, _nonce = body.partition(".")
        if not (body and mac and issued.isdigit()):
            return False
        if not hmac.compare_digest(mac, self._mac(body)):
            return False
        age = self._clock().timestamp() - int(issued)
        return -60 <= age < self.max_age

    def _mac(self, body: str) -> str:
        assert self.token is not None
        return hmac.new(
            self.token.encode("utf-8"), body.encode("ascii"), hashlib.sha256
        ).hexdigest()


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None otherwise."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def same_origin(origin: str | None, scheme: str, host: str) -> bool:
    """Whether an ``Origin`` header names this server (a missing one is accepted: the
    CSRF token is the check then)."""
    if origin is None:
        return True
    return origin == f"{scheme}://{host}"


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
