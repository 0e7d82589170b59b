"""Every event type survives the store's JSON form, old and new versions included."""

from __future__ import annotations

import json

import pytest

from xxci.common.events import (
    EVENT_TYPES,
    CancelRequested,
    ConnectionRefused,
    Event,
    JobAssigned,
    JobAttemptLost,
    JobAwaitingPlay,
    JobDelayed,
    JobFinished,
    JobPlayed,
    JobQueued,
    JobStarted,
    MessageRejected,
    RunCreated,
    RunFinished,
    RunReopened,
    SecretsGiven,
    StageFinished,
    StageStarted,
    StepFinished,
    WorkerConnected,
    WorkerDisconnected,
    WorkerRegistered,
    WorkerRevoked,
    decode_event,
    encode_event,
    run_stream,
)

from .conftest import Backend

PIPELINE = {
    "name": "build-and-test",
    "stages": ["build", "test"],
    "jobs": [
        {
            "name": "compile",
            "stage": "build",
            "image": "python:3.12-slim",
            "script": ["make", "make test"],
            "needs": [],
            "allow_failure": {"allowed": True, "exit_codes": [3, 137]},
            "artifacts": {"paths": ["dist/*.whl"], "when": "on_success"},
            "variables": {"PYTHONDONTWRITEBYTECODE": "1", "ÜNICODE": "ü ✓"},
            "timeout_seconds": 1800,
            "retry": 0,
            "tags": ["linux"],
        }
    ],
    "source_file": ".pipelines/build.yml",
}

SAMPLES: list[Event] = [
    RunCreated(
        run_id="r1",
        pipeline=PIPELINE,
        number=7,
        repo="/src/repo",
        branch="main",
        commit="0123abcd",
        source_blob="sha256:" + "ab" * 32,
        local=True,
    ),
    StageStarted(stage="build"),
    JobQueued(job="compile", attempt=2),
    JobAssigned(job="compile", attempt=2, worker_id="w1", worker_name="box", lease_seconds=12.5),
    JobStarted(job="compile", attempt=2, container="c0ffee", image_digest="sha256:" + "cd" * 32),
    StepFinished(job="compile", attempt=2, index=1, exit_code=3),
    JobFinished(
        job="compile",
        attempt=2,
        status="FAILED",
        exit_code=3,
        failure_reason="script_failure",
        allowed=True,
        message='quote " and newline \n',
        artifacts_blob="sha256:" + "ef" * 32,
    ),
    JobFinished(job="lint", attempt=1, status="SUCCESS"),  # exit_code None
    JobAttemptLost(job="compile", attempt=1, reason="lease expired"),
    JobAwaitingPlay(job="deploy"),
    JobPlayed(job="deploy", by="xxci play"),
    JobDelayed(job="later", start_in_seconds=300),
    SecretsGiven(job="deploy", attempt=1, names=("DEPLOY_TOKEN", "kube")),
    CancelRequested(job="", reason="user"),
    StageFinished(stage="build", status="FAILED"),
    RunFinished(status="FAILED"),
    RunReopened(job="deploy"),
    WorkerConnected(
        worker_id="w1", name="box", capacity=4, labels=("linux", "docker"), version="1", peer="ip"
    ),
    WorkerDisconnected(worker_id="w1", reason="eof"),
    WorkerRegistered(worker_id="w1", name="box", peer="ipv4:10.0.0.2:5555"),
    WorkerRevoked(worker_id="w1"),
    ConnectionRefused(
        worker_id="w1",
        reason="worker w2 claimed this worker's id",
        presented="worker:w2",
        name="intruder",
        peer="ipv4:10.0.0.4:7777",
    ),
    MessageRejected(
        worker_id="w1", run_id="r1", job="compile", attempt=1, message="LogChunk", reason="stale"
    ),
]


def test_every_event_type_has_a_sample() -> None:
    assert {type(e).__name__ for e in SAMPLES} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_codec_round_trip(event: Event) -> None:
    type_name, data = encode_event(event)
    assert decode_event(type_name, data) == event
    assert decode_event(type_name, json.loads(data)) == event


async def test_every_event_type_round_trips_through_the_store(backend: Backend) -> None:
    async with await backend.open_events() as store:
        await store.append(run_stream("r1"), 0, SAMPLES)
    async with await backend.open_events() as store:
        read = await store.read_stream(run_stream("r1"))
    assert [r.event for r in read] == SAMPLES
    connected = next(r.event for r in read if isinstance(r.event, WorkerConnected))
    assert connected.labels == ("linux", "docker")  # tuples come back as tuples
