"""The live feeds over Server-Sent Events: appends arrive as they happen, a
reconnect resumes after Last-Event-ID, feeds of finished things end, and stopping
the server ends the streams that are open."""

from __future__ import annotations

import asyncio
import json

from tests.integration.reports.recorder import BUILD
from tests.integration.web.conftest import Site, sse_messages
from xxci.common.events import JobFinished, StepFinished
from xxci.common.spec import load_pipeline_text
from xxci.orchestrator.domain.state import RunState

WAIT = 10.0


async def test_an_append_arrives_on_the_stream(site: Site, history: dict[str, RunState]) -> None:
    o = site.served.orchestrator
    last = await o.store.last_seq()
    url = f"{site.url}/api/v1/events/stream?since={last}"
    async with site.http.get(url, headers=site.auth()) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        stream = sse_messages(response)
        state = await o.submit(load_pipeline_text(BUILD, "b.yml"))
        async with asyncio.timeout(WAIT):
            first = await anext(stream)
    doc = json.loads(first["data"])
    assert (first["event"], doc["type"], doc["stream"]) == (
        "message",
        "RunCreated",
        f"run:{state.run_id}",
    )
    assert first["id"] == str(doc["seq"]) == str(last + 1)
    assert doc["fields"].startswith(f"run_id={state.run_id} pipeline=build number=4")


async def test_a_reconnect_resumes_after_the_last_event_id(
    site: Site, history: dict[str, RunState]
) -> None:
    o = site.served.orchestrator
    expected = [r.seq for r in await o.store.read_all(since_seq=20)]
    headers = {**site.auth(), "Last-Event-ID": "20"}
    url = f"{site.url}/api/v1/events/stream?since=0"
    seen: list[int] = []
    async with site.http.get(url, headers=headers) as response:
        stream = sse_messages(response)
        async with asyncio.timeout(WAIT):
            while len(seen) < len(expected):
                seen.append(int((await anext(stream))["id"]))
    assert seen == expected


async def test_a_finished_run_streams_its_events_then_ends(
    site: Site, history: dict[str, RunState]
) -> None:
    docs = history["docs#1"]
    url = f"{site.url}/api/v1/events/stream?run=docs%231"
    async with site.http.get(url, headers=site.auth()) as response, asyncio.timeout(WAIT):
        got = [m async for m in sse_messages(response)]
    assert [m["event"] for m in got][-1] == "end"
    types = [json.loads(m["data"])["type"] for m in got[:-1]]
    assert types[0] == "RunCreated"
    assert types[-1] == "RunFinished"
    assert len(types) == docs.version


async def test_a_running_job_log_grows_live_then_ends(
    site: Site, history: dict[str, RunState]
) -> None:
    o = site.served.orchestrator
    run_id = history["build#3"].run_id  # its job lib runs, attempt 1
    url = f"{site.url}/api/v1/runs/{run_id}/jobs/lib/log/stream"
    async with site.http.get(url, headers=site.auth()) as response:
        stream = sse_messages(response)
        await o.logs.append(run_id, "lib", 1, 1, "system", b"$ make lib\n")
        await o.logs.append(run_id, "lib", 1, 2, "stdout", b"caf\xc3")
        await o.logs.append(run_id, "lib", 1, 3, "stdout", b"\xa9 \x1b[32mok\x1b[0m\n")
        async with asyncio.timeout(WAIT):
            pieces = [await anext(stream) for _ in range(3)]
        assert [m["id"] for m in pieces] == ["1:1", "1:2", "1:3"]
        assert [json.loads(m["data"])["text"] for m in pieces] == [
            "$ make lib\n",
            "caf",
            "é \x1b[32mok\x1b[0m\n",
        ]
        await o.runs.record(
            run_id,
            [
                StepFinished("lib", 1, 0, 0),
                StepFinished("lib", 1, 1, 0),
                JobFinished("lib", 1, "SUCCESS", exit_code=0),
            ],
        )
        async with asyncio.timeout(WAIT):
            rest = [m async for m in stream]
    assert [m["event"] for m in rest] == ["end"]

    headers = {**site.auth(), "Last-Event-ID": "1:2"}
    async with site.http.get(url, headers=headers) as response, asyncio.timeout(WAIT):
        again = [m async for m in sse_messages(response)]
    assert [m.get("id") for m in again] == ["1:3", None]


async def test_stopping_the_server_ends_open_streams(
    site: Site, history: dict[str, RunState]
) -> None:
    url = f"{site.url}/api/v1/events/stream?since=1000000"
    async with site.http.get(url, headers=site.auth()) as response:
        assert response.status == 200
        async with asyncio.timeout(WAIT):
            await site.web.stop()
            rest = [m async for m in sse_messages(response)]
    assert rest == []
