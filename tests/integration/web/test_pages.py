"""The pages as HTML: what each shows, that user-controlled text is escaped, that a
run can be seen as it stood at an event, and the downloads."""

from __future__ import annotations

import html
import io
import json
import re
import tarfile
from pathlib import Path

from tests.integration.reports.recorder import IMAGE, Recorder
from tests.integration.web.conftest import Site, site_of
from xxci.common.events import JobAssigned, JobFinished, JobStarted, StepFinished
from xxci.orchestrator.domain.state import RunState

HOSTILE = "<img src=x onerror=alert(1)>"
XSS = f"""
pipeline: {{name: xss}}
stages: ["<b>stage</b>"]
default: {{image: {IMAGE}}}
jobs:
  - name: "{HOSTILE}"
    stage: "<b>stage</b>"
    variables: {{NOTE: "<script>alert(2)</script>"}}
    script: ["echo '<script>alert(3)</script>'"]
"""


def text_of(page: str) -> str:
    """The page's text, tags removed and entities decoded (what a reader sees)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


async def test_the_runs_page_lists_runs_newest_first(
    site: Site, history: dict[str, RunState]
) -> None:
    page = await site.page("/runs")
    rows = re.findall(r'<tr data-run="([0-9a-f]+)">', page)
    assert rows == [history[k].run_id for k in ("build#3", "build#2", "docs#1", "build#1")]
    assert 'title="compile: RUNNING"' in page and 'title="test: SUCCESS"' in page
    assert "✓ SUCCESS" in text_of(page) and "✗ FAILED" in text_of(page)
    assert re.search(r'data-live-stream="/api/v1/events/stream\?since=\d+"', page)
    filtered = await site.page("/runs?pipeline=docs&status=FAILED")
    assert re.findall(r'<tr data-run="([0-9a-f]+)">', filtered) == [history["docs#1"].run_id]
    assert '<option value="docs" selected>' in filtered
    none = await site.page("/runs?pipeline=docs&status=SUCCESS")
    assert "No runs match these filters." in none
    unknown = await site.page("/runs?pipeline=nope")
    assert "no runs of pipeline &#39;nope&#39; (pipelines with runs: build, docs)" in unknown
    fragment = await site.page("/runs?fragment=1&per_page=2")
    assert fragment.lstrip().startswith('<div class="scroll">')
    assert 'href="/runs?per_page=2&amp;page=2" rel="next"' in fragment


async def test_the_run_page_shows_stages_jobs_and_commands(
    site: Site, history: dict[str, RunState]
) -> None:
    run_id = history["build#1"].run_id
    page = await site.page(f"/runs/{run_id}")
    seen = text_of(page)
    assert "build #1 ✓ SUCCESS" in seen
    assert re.findall(r'<article class="job st-(\w+)" data-job="([^"]+)">', page) == [
        ("success", "lib"),
        ("success", "unit"),
        ("failed", "lint"),
        ("success", "ship"),
    ]
    assert "allowed to fail" in seen
    assert '<code>ruff format</code> <span class="exit bad">exit 1</span>' in page
    assert """data-needs='{"lib": [], "lint": [], "ship": [], "unit": ["lib"]}'""" in page
    assert 'action="/runs/' not in page, "a finished run has no cancel button"
    running = await site.page(f"/runs/{history['build#3'].run_id}")
    assert f'action="/runs/{history["build#3"].run_id}/cancel"' in running


async def test_the_board_at_an_event_is_the_run_as_it_stood(
    site: Site, history: dict[str, RunState]
) -> None:
    build1 = history["build#1"]
    timeline = re.search(
        r'<script type="application/json" id="timeline">(.*?)</script>',
        await site.page(f"/runs/{build1.run_id}"),
        re.S,
    )
    assert timeline is not None
    entries = json.loads(timeline.group(1))
    seqs = [e["seq"] for e in entries]
    assert len(seqs) == build1.version
    position = next(i for i, e in enumerate(entries) if e["type"] == "JobStarted")
    early = seqs[position]  # lib's first attempt has started
    board = await site.page(f"/runs/{build1.run_id}/board?at={early}")
    assert f"As it stood after event #{early}" in board
    assert re.findall(r'<article class="job st-(\w+)" data-job="lib">', board) == ["running"]
    later = await site.page(f"/runs/{build1.run_id}/board?at={seqs[-1]}")
    assert "As it stood" not in later, "the last event is now"
    assert re.findall(r'<article class="job st-(\w+)" data-job="lib">', later) == ["success"]
    page = await site.page(f"/runs/{build1.run_id}?at={early}")
    assert f'value="{position}"' in page and 'aria-pressed="false"' in page


async def test_hostile_names_show_as_text(tmp_path: Path, home: Path) -> None:
    async with Recorder(home) as r:
        run_id = (await r.submit(XSS)).run_id
        await r.run(
            run_id,
            HOSTILE,
            output=[
                ("system", b"$ echo '<script>alert(3)</script>'\n"),
                ("stdout", b"<script>alert(3)</script>\n"),
            ],
        )
    async with site_of(home, local=True) as site:
        for path in (
            f"/runs/{run_id}",
            "/runs",
            f"/runs/{run_id}/jobs/%3Cimg%20src=x%20onerror=alert(1)%3E",
            "/events",
        ):
            page = await site.page(path)
            assert "<img src=x" not in page, path
            assert "<script>alert" not in page, path
            assert "<b>stage</b>" not in page, path
        run_page = await site.page(f"/runs/{run_id}")
        assert "&lt;img src=x onerror=alert(1)&gt;" in run_page
        assert HOSTILE in text_of(run_page)
        assert "&lt;b&gt;stage&lt;/b&gt;" in run_page
        log = await site.json(
            f"/api/v1/runs/{run_id}/jobs/%3Cimg%20src=x%20onerror=alert(1)%3E/log"
        )
        assert log["chunks"][1]["text"] == "<script>alert(3)</script>\n", "JSON carries it as is"


async def test_downloads_of_the_log_and_the_artifacts(tmp_path: Path, home: Path) -> None:
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("dist/app.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    async with Recorder(home) as r:
        blob = await r.o.blobs.put_bytes(archive.getvalue())
        run_id = (await r.submit(XSS.replace("xss", "art"))).run_id
        job = HOSTILE
        await r.o.runs.record(run_id, [JobAssigned(job, 1, "w1", "w1"), JobStarted(job, 1)])
        await r.output(run_id, job, 1, [("stdout", b"built\n")])
        await r.o.runs.record(
            run_id,
            [
                StepFinished(job, 1, 0, 0),
                JobFinished(job, 1, "SUCCESS", 0, artifacts_blob=blob.digest),
            ],
        )
    async with site_of(home, local=True) as site:
        base = f"{site.url}/runs/{run_id}/jobs/%3Cimg%20src=x%20onerror=alert(1)%3E"
        page = await site.page(base.removeprefix(site.url))
        assert (
            'href="/runs/'
            + run_id
            + '/jobs/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E/artifacts/1"'
            in page
        )
        async with site.http.get(base + "/artifacts/1", headers=site.auth()) as response:
            assert response.status == 200
            assert response.headers["Content-Disposition"] == (
                'attachment; filename="art-1-_img_src_x_onerror_alert_1_-attempt1-artifacts.tar.gz"'
            )
            body = await response.read()
        assert body == archive.getvalue()
        async with site.http.get(base + "/artifacts/2", headers=site.auth()) as response:
            assert response.status == 404
        async with site.http.get(base + "/log.txt", headers=site.auth()) as response:
            assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
            assert "attachment" in response.headers["Content-Disposition"]
            assert await response.text() == "built\n"


async def test_workers_and_events_pages(site: Site, history: dict[str, RunState]) -> None:
    workers = text_of(await site.page("/workers"))
    assert "No worker is connected." in workers
    assert "build #3" in workers
    events = await site.page("/events?run=docs%231&type=RunFinished")
    rows = re.findall(r'<tr data-seq="(\d+)">', events)
    assert len(rows) == 1
    assert "status=FAILED" in events
    assert '<option value="RunFinished" selected>' in events
    missing = await site.page("/runs/nope", status=404)
    assert "no run &#39;nope&#39; (name a run by its id, or as PIPELINE#N)" in missing
