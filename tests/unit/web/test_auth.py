"""The access rules, without a server: session cookies, bearer headers, where a
sign-in may send the browser, and which addresses count as loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from xxci.common.errors import UsageError
from xxci.orchestrator.web.auth import Sessions, bearer_token, safe_next, same_origin
from xxci.orchestrator.web.server import is_loopback, split_listen


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_session_is_valid_for_its_token_until_it_expires() -> None:
    clock = Clock()
    sessions = Sessions("s3cret", clock, max_age=3600)
    cookie = sessions.issue()
    assert "s3cret" not in cookie
    assert sessions.valid(cookie)
    assert cookie != sessions.issue(), "each sign-in gets its own"
    assert not Sessions("other", clock).valid(cookie), "a new token ends old sessions"
    clock.now += timedelta(seconds=3599)
    assert sessions.valid(cookie)
    clock.now += timedelta(seconds=1)
    assert not sessions.valid(cookie)


@pytest.mark.parametrize(
    "forged",
    ["", "x", "1.2.3", "1735689600.nonce.", ".nonce.abc", "soon.nonce.abc", "a.b.c.d"],
)
def test_forged_sessions_are_refused(forged: str) -> None:
    assert not Sessions("s3cret", Clock()).valid(forged)


def test_a_tampered_session_is_refused() -> None:
    sessions = Sessions("s3cret", Clock())
    issued, nonce, mac = sessions.issue().split(".")
    assert not sessions.valid(f"{int(issued) + 1}.{nonce}.{mac}")
    assert not sessions.valid(f"{issued}.{nonce}x.{mac}")


def test_without_a_token_the_view_is_open_and_issues_nothing_valid() -> None:
    sessions = Sessions(None, Clock())
    assert sessions.open
    assert not sessions.token_matches("")
    assert not sessions.valid("1.2.3")


def test_bearer_headers() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer ") is None
    assert bearer_token(None) is None


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/runs?page=2", "/runs?page=2"),
        (None, "/"),
        ("", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("runs", "/"),
    ],
)
def test_sign_in_only_sends_to_this_site(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_origins() -> None:
    assert same_origin(None, "http", "127.0.0.1:7421")
    assert same_origin("http://127.0.0.1:7421", "http", "127.0.0.1:7421")
    assert not same_origin("http://evil.example", "http", "127.0.0.1:7421")
    assert not same_origin("https://127.0.0.1:7421", "http", "127.0.0.1:7421")


def test_listen_addresses() -> None:
    assert split_listen("127.0.0.1:7421") == ("127.0.0.1", 7421)
    assert split_listen("[::1]:0") == ("::1", 0)
    assert split_listen("0.0.0.0:80") == ("0.0.0.0", 80)
    for bad in ("7421", "host", ":7421", "h:port", "h:70000"):
        with pytest.raises(UsageError, match="--http takes HOST:PORT"):
            split_listen(bad)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert is_loopback("127.3.0.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1")
    assert not is_loopback("example.com")
