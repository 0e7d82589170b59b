"""The web view in a real Chromium, against a real `xxci server --http` with two
real workers running jobs in Docker, runs started from the real CLI.

Jobs that must stay RUNNING wait for a file; the test creates it with `docker
exec` once the page shows what it must, so nothing here waits on a clock.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Dialog,
    Page,
    expect,
    sync_playwright,
)

from tests.e2e.browser import SCREENSHOTS, docker_exec, launch
from tests.e2e.cluster import TOKEN, Cluster, free_port, make_repo, run_id_of

pytestmark = [pytest.mark.docker, pytest.mark.browser]

IMAGE = "xxci-test/busybox:latest"
GATE = "while [ ! -e /tmp/go ]; do sleep 0.05; done"
HOSTILE = "<img src=x onerror=alert(1)>"

PIPELINES = {
    "gated.yml": f"""
pipeline: {{name: gated}}
stages: [build, test]
default: {{image: "{IMAGE}"}}
jobs:
  - name: compile
    stage: build
    script:
      - echo waiting for the gate
      - "{GATE}"
      - printf '\\033[32mgreen\\033[0m and \\033[1mbold\\033[0m\\n'
  - name: unit
    stage: test
    needs: [compile]
    script: [echo unit tests pass]
  - name: lint
    stage: test
    allow_failure: true
    script: [echo style problems, exit 3]
""",
    "xss.yml": f"""
pipeline: {{name: xss}}
stages: ["<b>build</b>"]
default: {{image: "{IMAGE}"}}
jobs:
  - name: "{HOSTILE}"
    stage: "<b>build</b>"
    script: ["echo '<script>alert(2)</script>'"]
""",
}

TIMEOUT_MS = 30_000
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, docker_image: str) -> Iterator[Cluster]:
    """One server with the web view and two workers for the whole module."""
    tmp = tmp_path_factory.mktemp("web")
    c = Cluster(tmp=tmp, port=free_port(), data_dir=tmp / "data", http_port=free_port())
    c.start_server()
    c.start_worker("w1")
    c.start_worker("w2", labels=("linux",))
    try:
        c.wait_workers(2)
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def repo(site: Cluster) -> Path:
    return make_repo(site.tmp / "repo", PIPELINES)


@pytest.fixture(scope="module")
def browser(site: Cluster) -> Iterator[Browser]:
    """Chromium, once the cluster runs (Playwright's sync API keeps an event loop
    running in this thread; the cluster's set-up needs none to be)."""
    with sync_playwright() as playwright:
        b = launch(playwright)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860})
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


def sign_in(page: Page, site: Cluster, path: str = "/runs") -> None:
    page.goto(site.web_url + path)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(site.web_url + path)


def shot(page: Page, name: str, full: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full)


def start_run(site: Cluster, repo: Path, pipeline: str) -> tuple[subprocess.Popen[str], str]:
    """``xxci run --pipeline P`` in the background; its run id from its first line."""
    proc = site.popen("run", "--pipeline", pipeline, cwd=repo)
    assert proc.stdout is not None
    return proc, run_id_of(proc.stdout.readline())


def card(page: Page, job: str, status: str) -> None:
    """Wait until the card of ``job`` shows ``status`` (its class and its word)."""
    selector = f'article.job[data-job="{job}"]'
    expect(page.locator(selector)).to_have_class(re.compile(rf"\bst-{status.lower()}\b"))
    expect(page.locator(f"{selector} .status").first).to_contain_text(status)


def container_up(page: Page, job: str) -> None:
    """Wait until the card of ``job`` shows its container started (it has a duration)."""
    expect(page.locator(f'article.job[data-job="{job}"] dt', has_text="Duration")).to_be_visible()


def test_a_run_goes_live_through_the_pages(
    context: BrowserContext, site: Cluster, repo: Path
) -> None:
    runs = context.new_page()
    sign_in(runs, site)
    runs.evaluate("window.__loaded = 'once'")  # gone if the page reloads
    proc, run_id = start_run(site, repo, "gated")
    try:
        row = runs.locator(f'tr[data-run="{run_id}"]')
        expect(row).to_contain_text("gated")  # appeared without a reload
        expect(row).to_contain_text("RUNNING")
        shot(runs, "runs")

        run = context.new_page()
        run.goto(f"{site.web_url}/runs/{run_id}")
        run.evaluate("window.__loaded = 'once'")
        card(run, "compile", "RUNNING")
        card(run, "unit", "PENDING")
        expect(run.locator("svg.edges path.edge")).to_have_count(1)  # unit needs compile

        log = context.new_page()
        log.goto(f"{site.web_url}/runs/{run_id}/jobs/compile")
        body = log.locator("#log")
        expect(body).to_contain_text("waiting for the gate")
        expect(body.locator("details.section summary code.cmd").first).to_have_text(
            "$ echo waiting for the gate"
        )
        expect(body).not_to_contain_text("green")
        docker_exec(run_id, "compile", "touch", "/tmp/go")
        expect(body.locator("span.fg-2")).to_have_text("green")  # grew live, ANSI coloured
        expect(body.locator("span.b")).to_have_text("bold")
        expect(log.locator("#log-state")).to_have_text("End of the output.")
        expect(body.locator("details.section .exit.ok")).to_have_count(3)
        shot(log, "job-log")

        card(run, "compile", "SUCCESS")
        card(run, "unit", "SUCCESS")
        card(run, "lint", "FAILED")
        expect(run.locator('article[data-job="lint"]')).to_contain_text("allowed to fail")
        expect(run.locator(".run-head .status")).to_contain_text("SUCCESS")
        assert run.evaluate("window.__loaded") == "once", "the run page never reloaded"
        assert runs.evaluate("window.__loaded") == "once", "nor did the runs page"
        expect(row).to_contain_text("SUCCESS")
        run.locator('article[data-job="lint"] details.steps summary').click()
        shot(run, "run")
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_time_travel_shows_a_job_running_then_done(
    context: BrowserContext, site: Cluster, repo: Path
) -> None:
    proc, run_id = start_run(site, repo, "gated")
    page = context.new_page()
    sign_in(page, site, f"/runs/{run_id}")
    card(page, "compile", "RUNNING")
    container_up(page, "compile")
    docker_exec(run_id, "compile", "touch", "/tmp/go")
    assert proc.wait(60) == 0
    page.reload()
    timeline = json.loads(page.locator("#timeline").text_content() or "[]")
    started = next(
        i
        for i, e in enumerate(timeline)
        if e["type"] == "JobStarted" and "job=compile" in e["fields"]
    )
    slider = page.locator("#tt-slider")
    slider.fill(str(started))
    expect(page.locator("#tt-label")).to_contain_text(f"#{timeline[started]['seq']} JobStarted")
    card(page, "compile", "RUNNING")
    expect(page.locator(".past")).to_contain_text(f"event #{timeline[started]['seq']}")
    expect(page).to_have_url(re.compile(rf"\?at={timeline[started]['seq']}$"))
    shot(page, "time-travel")
    page.locator("#tt-next").click()  # a step button
    expect(page.locator("#tt-label")).to_contain_text(f"Event {started + 2} of")
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("ArrowLeft")  # and the arrow keys
    expect(page.locator("#tt-label")).to_contain_text(f"Event {started + 1} of")
    card(page, "compile", "RUNNING")
    page.keyboard.press("End")
    expect(page.locator("#tt-label")).to_contain_text(f"Event {len(timeline)} of {len(timeline)}")
    card(page, "compile", "SUCCESS")
    expect(page.locator(".past")).to_have_count(0)
    expect(page.locator("#tt-live")).to_have_attribute("aria-pressed", "true")


def test_cancel_from_the_page_cancels_the_run(
    context: BrowserContext, site: Cluster, repo: Path
) -> None:
    proc, run_id = start_run(site, repo, "gated")
    page = context.new_page()
    sign_in(page, site, f"/runs/{run_id}")
    card(page, "compile", "RUNNING")
    page.get_by_role("button", name="Cancel run").click()
    expect(page).to_have_url(f"{site.web_url}/runs/{run_id}")
    expect(page.locator(".run-head .status")).to_contain_text("CANCELED")
    card(page, "compile", "CANCELED")
    card(page, "unit", "CANCELED")
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    listing = site.xxci("report", "--format", "json", check=True)
    [mine] = [r for r in json.loads(listing.stdout)["runs"] if r["run_id"] == run_id]
    assert mine["status"] == "CANCELED", "the CLI says so too"
    assert proc.wait(60) == 1


def test_hostile_names_show_as_text(context: BrowserContext, site: Cluster, repo: Path) -> None:
    result = site.xxci("run", "--pipeline", "xss", cwd=repo)
    assert result.returncode == 0, result.stderr
    run_id = run_id_of(result.stdout)
    page = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    sign_in(page, site, f"/runs/{run_id}")
    job = page.locator("article.job h3 a")
    expect(job).to_have_text(HOSTILE)
    expect(page.locator(".stage h2 .name")).to_have_text("<b>build</b>")
    job.click()
    expect(page.locator("#log")).to_contain_text("<script>alert(2)</script>")
    expect(page.locator("h1")).to_contain_text(HOSTILE)
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("#log script, #log b").count() == 0
    page.goto(f"{site.web_url}/runs")
    page.goto(f"{site.web_url}/events?run={run_id}")
    page.locator("table.events tbody tr").first.locator("summary").click()
    expect(page.locator("table.events pre").first).to_contain_text(
        '"name": "<img src=x onerror=alert(1)>"'
    )
    shot(page, "events")
    assert dialogs == []


def test_without_the_token_the_pages_refuse(context: BrowserContext, site: Cluster) -> None:
    page = context.new_page()
    page.goto(site.web_url + "/workers")
    expect(page).to_have_url(re.compile(r"/login\?next=(%2F|/)workers$"))
    shot(page, "sign-in")
    page.get_by_label("Token").fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That is not this server's token.")
    answer = page.goto(site.web_url + "/api/v1/runs")
    assert answer is not None and answer.status == 401
    assert json.loads(page.locator("body").inner_text()) == {"error": "missing or invalid token"}
    page.goto(site.web_url + "/login")
    page.get_by_label("Token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.goto(site.web_url + "/workers")
    expect(page.locator("table.workers tbody tr")).to_have_count(2)
    expect(page.locator("table.workers")).to_contain_text("linux")
    shot(page, "workers")
    page.goto(site.web_url + "/runs")
    expect(page.locator("table.runs tbody tr").first).to_be_visible()
    shot(page, "runs-history")


def test_a_phone_width_window(browser: Browser, site: Cluster, repo: Path) -> None:
    phone = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    try:
        page = phone.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        sign_in(page, site)
        link = page.locator("table.runs tbody tr a").first
        link.click()
        expect(page.locator(".stages .stage").first).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the run page fits a phone ({width}px wide)"
        shot(page, "run-phone-dark")
    finally:
        phone.close()
