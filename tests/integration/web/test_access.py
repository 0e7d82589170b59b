"""Who may see the web view: the sign-in form, its cookie, bearer tokens for the API,
and CSRF on every form that changes something."""

from __future__ import annotations

import re

from tests.integration.web.conftest import TOKEN, Site
from xxci.common.events import run_stream
from xxci.orchestrator.domain.state import RunState


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has a form with a CSRF token"
    return match.group(1)


async def cancels(site: Site, run_id: str) -> int:
    records = await site.served.orchestrator.store.read_stream(run_stream(run_id))
    return sum(1 for r in records if r.event.type == "CancelRequested")


async def test_without_the_token_nothing_shows(site: Site, history: dict[str, RunState]) -> None:
    run_id = history["build#1"].run_id
    for path in ("/runs", f"/runs/{run_id}", "/workers", "/events?type=RunFinished"):
        async with site.http.get(site.url + path, allow_redirects=False) as response:
            assert response.status == 303
            assert response.headers["Location"].startswith("/login?next=")
    for path in ("/api/v1/runs", f"/api/v1/runs/{run_id}", "/api/v1/events/stream"):
        async with site.http.get(site.url + path) as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert await response.json() == {"error": "missing or invalid token"}
    wrong = {"Authorization": "Bearer not-the-token"}
    for path in ("/runs", "/api/v1/runs"):
        async with site.http.get(site.url + path, headers=wrong) as response:
            assert response.status == 401
    async with site.http.get(site.url + "/static/xxci.css") as response:
        assert response.status == 200, "assets are not secret"


async def test_the_sign_in_form_sets_an_http_only_session(
    site: Site, history: dict[str, RunState]
) -> None:
    async with site.http.get(site.url + "/runs") as response:  # redirected to the form
        assert response.url.path == "/login"
        form = await response.text()
    assert 'type="password" name="token"' in form
    csrf = csrf_of(form)
    data = {"token": "guess", "csrf": csrf, "next": "/workers"}
    async with site.http.post(site.url + "/login", data=data) as response:
        assert response.status == 401
        assert "That is not this server&#39;s token." in await response.text()
    data["token"] = TOKEN
    async with site.http.post(site.url + "/login", data=data, allow_redirects=False) as response:
        assert (response.status, response.headers["Location"]) == (303, "/workers")
        cookie = response.cookies["xxci_session"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert TOKEN not in cookie.value, "the cookie is a signature, not the token"
    async with site.http.get(site.url + "/runs") as response:
        assert (response.status, response.url.path) == (200, "/runs")
    async with site.http.get(site.url + "/api/v1/runs") as response:
        assert response.status == 200, "the pages' scripts use the API with the cookie"
    async with site.http.post(site.url + "/logout", data={"csrf": csrf}) as response:
        assert response.url.path == "/login"
    async with site.http.get(site.url + "/api/v1/runs") as response:
        assert response.status == 401


async def test_a_token_in_the_url_signs_nobody_in(site: Site, history: dict[str, RunState]) -> None:
    async with site.http.get(f"{site.url}/login?token={TOKEN}") as response:
        assert response.url.path == "/login"
    async with site.http.get(f"{site.url}/runs?token={TOKEN}", allow_redirects=False) as r:
        assert r.status == 303


async def test_sign_in_sends_nowhere_else(site: Site, history: dict[str, RunState]) -> None:
    async with site.http.get(site.url + "/login") as response:
        csrf = csrf_of(await response.text())
    data = {"token": TOKEN, "csrf": csrf, "next": "//evil.example/x"}
    async with site.http.post(site.url + "/login", data=data, allow_redirects=False) as response:
        assert response.headers["Location"] == "/"


async def test_cancel_from_a_page_needs_the_csrf_token(
    site: Site, history: dict[str, RunState]
) -> None:
    running = history["build#3"].run_id
    page = await site.page(f"/runs/{running}")
    csrf = csrf_of(page)
    url = f"{site.url}/runs/{running}/cancel"
    async with site.http.post(url, data={}) as response:
        assert response.status == 401, "no session, no bearer: refused before anything"
    async with site.http.get(site.url + "/login") as response:
        csrf = csrf_of(await response.text())
    data = {"token": TOKEN, "csrf": csrf}
    async with site.http.post(site.url + "/login", data=data):
        pass
    async with site.http.post(url, data={"csrf": "forged-forged-forged"}) as response:
        assert response.status == 403
        assert "this form has expired" in await response.text()
    other_site = {"Origin": "http://evil.example"}
    async with site.http.post(url, data={"csrf": csrf}, headers=other_site) as response:
        assert response.status == 403
        assert "this form was sent from another site" in await response.text()
    assert await cancels(site, running) == 0
    async with site.http.post(url, data={"csrf": csrf}, allow_redirects=False) as response:
        assert (response.status, response.headers["Location"]) == (303, f"/runs/{running}")
    assert await cancels(site, running) == 1


async def test_every_answer_forbids_foreign_scripts(
    site: Site, history: dict[str, RunState]
) -> None:
    async with site.http.get(site.url + "/runs", headers=site.auth()) as response:
        policy = response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert "unsafe-inline" not in policy


async def test_a_json_post_needs_this_origin_not_a_form_token(
    site: Site, history: dict[str, RunState]
) -> None:
    """A page of another site cannot send JSON without a CORS preflight (never granted
    here), so a JSON call with the session needs no CSRF token; a bodiless or form
    POST does."""
    async with site.http.get(site.url + "/login") as response:
        csrf = csrf_of(await response.text())
    async with site.http.post(site.url + "/login", data={"token": TOKEN, "csrf": csrf}):
        pass
    running = history["build#3"].run_id
    url = f"{site.url}/api/v1/runs/{running}/cancel"
    async with site.http.post(url) as response:
        assert response.status == 403
    evil = {"Origin": "http://evil.example"}
    async with site.http.post(url, json={"job": "ship"}, headers=evil) as response:
        assert response.status == 403
        assert await response.json() == {"error": "this form was sent from another site"}
    assert await cancels(site, running) == 0
    async with site.http.post(url, json={"job": "ship"}) as response:
        assert response.status == 200
        assert (await response.json())["accepted"] is True
    assert await cancels(site, running) == 1
