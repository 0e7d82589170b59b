"""The JSON API against the CLI: every endpoint answers what `xxci report`, `status`,
`events` and `logs` print for the same orchestrator, and errors are one line."""

from __future__ import annotations

import json

from tests.integration.reports.recorder import run_cli
from tests.integration.web.conftest import Site
from xxci.orchestrator.domain.state import RunState


async def test_a_run_is_the_report_of_it(site: Site, history: dict[str, RunState]) -> None:
    for key, state in history.items():
        args = ("report", "--pipeline", state.pipeline.name, "--run", str(state.number))
        expected = await site.cli_json(*args)
        assert await site.json(f"/api/v1/runs/{state.run_id}") == expected, key
    by_name = await site.json("/api/v1/runs/build%231")
    assert by_name == await site.json(f"/api/v1/runs/{history['build#1'].run_id}")


async def test_a_run_at_an_event_is_the_report_at_it(
    site: Site, history: dict[str, RunState]
) -> None:
    build1 = history["build#1"]
    middle = build1.last_seq - 6
    doc = await site.json(f"/api/v1/runs/{build1.run_id}?at={middle}")
    assert doc == await site.cli_json(
        "report", "--pipeline", "build", "--run", "1", "--at", str(middle)
    )
    assert (doc["status"], doc["last_seq"]) == ("RUNNING", middle)


async def test_a_job_is_the_job_level_report(site: Site, history: dict[str, RunState]) -> None:
    run_id = history["build#1"].run_id
    doc = await site.json(f"/api/v1/runs/{run_id}/jobs/unit")
    args = ("report", "--pipeline", "build", "--run", "1", "--stage", "test", "--job", "unit")
    assert doc == await site.cli_json(*args)
    assert [s["name"] for s in doc["stages"]] == ["test"]
    assert [j["name"] for j in doc["stages"][0]["jobs"]] == ["unit"]


async def test_the_runs_listing_is_the_report_listing(
    site: Site, history: dict[str, RunState]
) -> None:
    doc = await site.json("/api/v1/runs?pipeline=build")
    expected = await site.cli_json("report", "--pipeline", "build")
    assert {k: v for k, v in doc.items() if k != "page"} == expected
    assert doc["page"] == {"number": 1, "per_page": 50, "older": False}

    everything = await site.json("/api/v1/runs")
    assert everything["level"] == "pipeline"
    assert [(r["pipeline"], r["number"]) for r in everything["runs"]] == [
        ("build", 1),
        ("docs", 1),
        ("build", 2),
        ("build", 3),
    ]
    by_run = {r["run_id"]: r for r in expected["runs"]}
    by_run.update(
        {r["run_id"]: r for r in (await site.cli_json("report", "--pipeline", "docs"))["runs"]}
    )
    assert everything["runs"] == [by_run[r["run_id"]] for r in everything["runs"]]


async def test_filters_and_pages_of_the_listing(site: Site, history: dict[str, RunState]) -> None:
    doc = await site.json("/api/v1/runs?status=success")
    assert [(r["pipeline"], r["number"]) for r in doc["runs"]] == [("build", 1), ("build", 2)]
    assert (
        doc["runs"]
        == (await site.cli_json("report", "--status", "SUCCESS", "--pipeline", "build"))["runs"]
    )
    doc = await site.json("/api/v1/runs?branch=dev")
    assert [r["number"] for r in doc["runs"]] == [2]
    first = await site.json("/api/v1/runs?per_page=3")
    assert [(r["pipeline"], r["number"]) for r in first["runs"]] == [
        ("docs", 1),
        ("build", 2),
        ("build", 3),
    ]
    assert first["page"] == {"number": 1, "per_page": 3, "older": True}
    second = await site.json("/api/v1/runs?per_page=3&page=2")
    assert [(r["pipeline"], r["number"]) for r in second["runs"]] == [("build", 1)]
    assert second["page"]["older"] is False


async def test_workers_is_the_status_document(site: Site, history: dict[str, RunState]) -> None:
    doc = await site.json("/api/v1/workers")
    assert doc == await site.cli_json("status")
    assert [r["number"] for r in doc["runs"]] == [3]
    assert doc["workers"] == []


async def test_events_are_the_audit_lines(site: Site, history: dict[str, RunState]) -> None:
    run_id = history["docs#1"].run_id
    result = await run_cli("events", run_id, *site.served.args, "--format", "json")
    expected = [json.loads(line) for line in result.stdout.splitlines()]
    doc = await site.json(f"/api/v1/events?run={run_id}")
    assert [{k: v for k, v in e.items() if k != "fields"} for e in doc["events"]] == expected
    assert doc["next_since"] is None
    assert doc["events"][-1]["fields"] == "status=FAILED"
    finished = await site.json("/api/v1/events?type=RunFinished")
    assert [e["data"]["status"] for e in finished["events"]] == ["SUCCESS", "FAILED", "SUCCESS"]
    two = await site.json("/api/v1/events?limit=2&since=3")
    assert [e["seq"] for e in two["events"]] == [4, 5]
    assert two["next_since"] == 5


async def test_a_log_is_the_output_of_xxci_logs(site: Site, history: dict[str, RunState]) -> None:
    run_id = history["build#1"].run_id
    result = await run_cli("logs", run_id, "unit", *site.served.args)
    doc = await site.json(f"/api/v1/runs/{run_id}/jobs/unit/log")
    assert (doc["run_id"], doc["job"], doc["attempt"]) == (run_id, "unit", 1)
    assert "".join(c["text"] for c in doc["chunks"]) == result.stdout
    assert [c["stream"] for c in doc["chunks"]] == ["system", "stdout", "stderr", "stdout"]
    raw = await site.page(f"/runs/{run_id}/jobs/unit/log.txt")
    assert raw == result.stdout == "$ make unit\nran 3 tests\nwarning: slow\nOK\n"


async def test_cancel_over_the_api(site: Site, history: dict[str, RunState]) -> None:
    running = history["build#3"].run_id
    url = f"{site.url}/api/v1/runs/{running}/cancel"
    async with site.http.post(url, headers=site.auth()) as response:
        assert response.status == 200
        answer = await response.json()
    assert answer["accepted"] is True
    state = await site.served.orchestrator.runs.get(running)
    assert state.cancel_requested_at is not None
    done = history["docs#1"].run_id
    async with site.http.post(
        f"{site.url}/api/v1/runs/{done}/cancel", headers=site.auth()
    ) as response:
        assert response.status == 409
        assert (await response.json())["accepted"] is False


async def test_errors_are_one_line(site: Site, history: dict[str, RunState]) -> None:
    missing = await site.json("/api/v1/runs/nope", status=404)
    assert missing == {"error": "no run 'nope' (name a run by its id, or as PIPELINE#N)"}
    assert await site.json("/api/v1/runs/build%2399", status=404) == {
        "error": "pipeline 'build' has no run #99"
    }
    assert await site.json("/api/v1/runs?status=bogus", status=400) == {
        "error": "status must be one of PENDING, RUNNING, SUCCESS, FAILED, CANCELED, not 'BOGUS'"
    }
    assert await site.json("/api/v1/runs?page=0", status=400) == {
        "error": "page must be at least 1, not 0"
    }
    run_id = history["build#1"].run_id
    assert await site.json(f"/api/v1/runs/{run_id}/jobs/nojob", status=404) == {
        "error": "run build #1 has no job 'nojob' (jobs: lib, unit, lint, ship)"
    }
    assert await site.json("/api/v1/events?type=Nope", status=400) == {
        "error": "type must be one of RunCreated, StageStarted, JobQueued, JobAssigned,"
        " SecretsGiven, JobStarted, StepFinished, JobFinished, JobAwaitingPlay, JobPlayed,"
        " JobDelayed, JobAttemptLost, CancelRequested, StageFinished, RunFinished,"
        " RunReopened, WorkerConnected, WorkerDisconnected, WorkerRegistered, WorkerRevoked,"
        " ConnectionRefused, MessageRejected, not 'Nope'"
    }
