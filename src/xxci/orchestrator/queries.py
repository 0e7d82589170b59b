"""Answers to report queries, derived from the log by replay."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from xxci.common.errors import NotFoundError
from xxci.common.events import run_stream
from xxci.orchestrator.hub import WorkerSession
from xxci.orchestrator.report import run_report
from xxci.orchestrator.state import RunState, replay
from xxci.orchestrator.store import EventStore


async def query_report(
    store: EventStore,
    *,
    repo: str = "",
    pipeline: str = "",
    number: int = 0,
    stage: str = "",
    job: str = "",
    at_seq: int = 0,
) -> dict[str, Any]:
    """Runs matching the filters, each as a full run report."""
    rows = await store.find_runs(
        repo=repo or None, pipeline=pipeline or None, number=number or None
    )
    if pipeline and not rows:
        if number:
            raise NotFoundError(f"pipeline {pipeline!r} has no run #{number}")
        raise NotFoundError(f"no runs of pipeline {pipeline!r}")
    runs = []
    for row in rows:
        records = await store.read_stream(run_stream(row.run_id), up_to_seq=at_seq or None)
        if records:
            runs.append(run_report(replay(records)))
    return {"runs": runs}


def status_report(active: Sequence[RunState], sessions: Sequence[WorkerSession]) -> dict[str, Any]:
    """Runs in flight, their queued and running jobs, and the connected workers."""
    return {
        "runs": [run_report(s) for s in active],
        "workers": [
            {
                "id": s.worker_id,
                "name": s.name,
                "capacity": s.capacity,
                "labels": sorted(s.labels),
                "draining": s.draining,
                "running": [f"{r}/{j}#{a}" for r, j, a in sorted(s.attempts)],
            }
            for s in sessions
        ],
    }
