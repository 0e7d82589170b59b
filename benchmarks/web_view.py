"""How fast the web view answers with a long history, and how soon an event reaches a
browser (a script that prints numbers).

    .venv/bin/python benchmarks/web_view.py [--runs 10000] [--repeat 20] [--events 200]

The log is the one ``benchmarks/report_queries.py`` fills (--runs finished runs of 4
pipelines, 39 events each), copied fresh. An :class:`Orchestrator` opens it and the
web view serves it on a loopback port, as ``xxci server --http`` does; an HTTP
client in the same process asks, so each time covers routing, the query, the
template and the bytes on the socket.

* Server time of the runs page (``/runs``, 50 runs with their stages) and of the API
  listing (``/api/v1/runs``), first with an empty report cache (every run replayed
  once, then cached), then warm as a server always is (it caches each run as it
  finishes); with a pipeline, a status filter, and a deep page.
* The delay from an event's append (``EventStore.append``) to its arrival on an open
  ``/api/v1/events/stream``, over --events appends.

Targets: the runs page and the API listing under 300 ms with 10,000 runs; an event
over SSE under 100 ms on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_queries import PIPELINES, filled_copy

from xxci.common.events import WorkerConnected, worker_stream
from xxci.orchestrator.application import OrchestratorService
from xxci.orchestrator.runtime.orchestrator import Orchestrator
from xxci.orchestrator.web import WebServer

Timing = tuple[str, list[float], str]


async def timed_get(
    http: aiohttp.ClientSession, url: str, repeat: int, label: str, note: str = ""
) -> Timing:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        async with http.get(url) as response:
            body = await response.read()
            if response.status != 200:
                raise SystemExit(f"{url}: {response.status} {body[:200]!r}")
        times.append(time.perf_counter() - started)
    return label, times, f"{note}{', ' if note else ''}{len(body):,} bytes"


async def sse_delays(
    http: aiohttp.ClientSession, base: str, orchestrator: Orchestrator, count: int
) -> list[float]:
    """Seconds from each append to the arrival of its message on the stream."""
    store = orchestrator.store
    since = await store.last_seq()
    delays: list[float] = []
    async with http.get(f"{base}/api/v1/events/stream?since={since}") as response:
        lines = response.content
        for i in range(count):
            stream = worker_stream(f"bench-{i}")
            started = time.perf_counter()
            await store.append(stream, 0, [WorkerConnected(f"bench-{i}", f"bench-{i}", 1)])
            while True:
                line = await lines.readline()
                if line.startswith(b"data: ") and f"bench-{i}".encode() in line:
                    break
            delays.append(time.perf_counter() - started)
    return delays


async def main(runs: int, repeat: int, events: int) -> None:
    with tempfile.TemporaryDirectory(prefix="xxci-bench-web-") as tmp:
        home = Path(tmp)
        await filled_copy(runs, home)
        orchestrator = Orchestrator(home, db_name="local.db")
        await orchestrator.start()
        view = WebServer(OrchestratorService(orchestrator), "127.0.0.1:0")
        await view.start()
        base = view.url.rstrip("/")
        pipeline = PIPELINES[0]
        results: list[Timing] = []
        try:
            async with aiohttp.ClientSession() as http:
                results.append(
                    await timed_get(
                        http,
                        f"{base}/runs",
                        1,
                        "GET /runs, cold report cache",
                        "the newest 51 runs replayed, then cached",
                    )
                )
                results.append(
                    await timed_get(
                        http,
                        f"{base}/api/v1/runs?status=FAILED",
                        1,
                        "GET /api/v1/runs?status=FAILED, cold",
                        f"all {runs:,} runs replayed for their status, then cached",
                    )
                )
                for path, label in (
                    ("/runs", "GET /runs (newest 50 of all)"),
                    ("/api/v1/runs", "GET /api/v1/runs"),
                    (f"/runs?pipeline={pipeline}", f"GET /runs?pipeline={pipeline}"),
                    ("/runs?status=FAILED", "GET /runs?status=FAILED"),
                    ("/api/v1/runs?status=FAILED", "GET /api/v1/runs?status=FAILED"),
                    ("/runs?page=150", "GET /runs?page=150 (runs 7,451-7,500)"),
                    ("/runs?fragment=1", "GET /runs?fragment=1 (the live refresh)"),
                ):
                    results.append(await timed_get(http, base + path, repeat, label))
                delays = await sse_delays(http, base, orchestrator, events)
        finally:
            await view.stop()
            await orchestrator.stop()
    print(f"\n{runs:,} finished runs in the log; {repeat} requests each\n")
    print(f"{'request':<48} {'median':>9} {'p95':>9} {'max':>9}  note")
    for label, times, note in results:
        cells = [statistics.median(times), _p95(times), max(times)]
        shown = " ".join(f"{t * 1000:>7.1f}ms" for t in cells)
        print(f"{label:<48} {shown}  {note}")
    cells = [statistics.median(delays), _p95(delays), max(delays)]
    shown = " ".join(f"{t * 1000:>7.1f}ms" for t in cells)
    print(f"\n{'append -> SSE arrival (' + str(events) + ' events)':<48} {shown}")


def _p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000, help="finished runs in the log")
    parser.add_argument("--repeat", type=int, default=20, help="requests per page")
    parser.add_argument("--events", type=int, default=200, help="events timed over SSE")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.repeat, args.events))
