"""The fold: what a run stream means, event by event."""

from __future__ import annotations

from datetime import timedelta

import pytest

from xxci.common.events import (
    Event,
    JobAssigned,
    JobFinished,
    JobQueued,
    JobStarted,
    RecordedEvent,
    RunCreated,
    StageStarted,
    StepFinished,
    WorkerConnected,
)
from xxci.common.status import JobStatus, RunStatus, StageStatus
from xxci.orchestrator.domain.fold import apply, replay
from xxci.orchestrator.domain.lookup import is_current

from .harness import T0, Scenario, job, pipeline


def _record(event: Event, version: int = 1) -> RecordedEvent:
    return RecordedEvent(seq=version, stream="run:r1", version=version, at=T0, event=event)


def test_run_created_starts_the_state() -> None:
    spec = pipeline(job("compile", "build"), job("unit", "test", needs=["compile"]))
    created = RunCreated(
        run_id="r1",
        pipeline=spec.to_dict(),
        number=3,
        repo="git@x:y.git",
        branch="main",
        commit="abc",
        source_blob="sha256:1",
        local=True,
    )
    state = apply(None, _record(created))
    assert (state.run_id, state.number, state.repo, state.branch, state.commit) == (
        "r1",
        3,
        "git@x:y.git",
        "main",
        "abc",
    )
    assert (state.source_blob, state.local, state.created_at) == ("sha256:1", True, T0)
    assert state.pipeline == spec
    assert state.status is RunStatus.PENDING
    assert list(state.stages) == ["build", "test"]
    assert state.stages["test"].jobs == ("unit",)
    assert {n: j.status for n, j in state.jobs.items()} == {
        "compile": JobStatus.PENDING,
        "unit": JobStatus.PENDING,
    }
    assert (state.version, state.last_seq, state.stream) == (1, 1, "run:r1")


def test_a_stream_must_start_with_run_created() -> None:
    with pytest.raises(ValueError, match="must start with RunCreated"):
        apply(None, _record(StageStarted(stage="build")))
    with pytest.raises(ValueError, match="empty"):
        replay([])
    with pytest.raises(ValueError, match="invalid pipeline"):
        apply(None, _record(RunCreated(run_id="r1", pipeline={"name": "x"}, number=1)))


def test_replay_gives_the_state_at_every_event() -> None:
    """Folding any prefix of the log gives the state the run had at that event."""
    s = Scenario(
        pipeline(
            job("a", "build", retry=1),
            job("b", "build"),
            job("c", "test", needs=["a"]),
            job("d", "test"),
        )
    )
    s.run("a", exit_code=1)
    s.start("b")
    s.lose("b")
    s.run("a")
    s.run("b")
    s.tick(5)
    s.start("c")
    s.cancel()
    s.report_canceled("c")
    s.assert_run(RunStatus.CANCELED)

    assert replay(s.records) == s.state
    for n in range(1, len(s.records) + 1):
        assert replay(s.records[:n]) == s.states[n - 1]
    assert s.state.version == len(s.records)
    assert s.state.last_seq == s.records[-1].seq


def test_stale_and_out_of_order_events_are_ignored() -> None:
    s = Scenario(pipeline(job("a", "build"), job("b", "test")))
    before = s.state
    ignored = [
        StageStarted(stage="test"),  # build has not finished
        JobQueued(job="b", attempt=1),  # its stage has not started
        JobQueued(job="a", attempt=1),  # already queued as attempt 1
        JobAssigned(job="a", attempt=2, worker_id="w1"),  # not the current attempt
        JobStarted(job="a", attempt=1),  # not assigned yet
        StepFinished(job="a", attempt=1, index=0, exit_code=0),  # not running
        JobFinished(job="a", attempt=1, status="PENDING"),  # not a final status
        JobFinished(job="a", attempt=1, status="BOGUS"),
        JobFinished(job="ghost", attempt=1, status="SUCCESS"),
        WorkerConnected(worker_id="w1", name="w1", capacity=1),  # another stream's event
    ]
    for event in ignored:
        s.append(event)
    assert s.state.jobs == before.jobs
    assert s.state.stages == before.stages
    assert s.state.version == before.version + len(ignored)


def test_a_job_finishes_once() -> None:
    s = Scenario(pipeline(job("a"), job("b")))
    s.run("a", exit_code=1)
    failed = s.job("a")
    s.append(JobFinished(job="a", attempt=1, status="SUCCESS", exit_code=0))
    assert s.job("a") == failed


def test_assignment_and_start_are_recorded() -> None:
    s = Scenario(pipeline(job("a")))
    s.record(JobAssigned(job="a", attempt=1, worker_id="w9", worker_name="box", lease_seconds=15))
    s.now += timedelta(seconds=30)
    s.record(JobStarted(job="a", attempt=1, container="c1", image_digest="sha256:d"))
    a = s.job("a")
    assert a.status is JobStatus.RUNNING
    assert (a.worker_id, a.worker_name, a.lease_seconds) == ("w9", "box", 15)
    assert (a.container, a.image_digest) == ("c1", "sha256:d")
    assert (a.assigned_at, a.started_at) == (T0, T0 + timedelta(seconds=30))
    assert a.attempts[-1].worker_name == "box"
    assert s.state.stages["test"].status is StageStatus.RUNNING


def test_is_current() -> None:
    s = Scenario(pipeline(job("a"), job("b")))
    assert is_current(s.state, "a", 1)  # queued
    assert not is_current(s.state, "a", 2)
    assert not is_current(s.state, "a", 0)
    assert not is_current(s.state, "ghost", 1)
    s.start("a", worker="w1")
    assert is_current(s.state, "a", 1, worker_id="w1")
    assert not is_current(s.state, "a", 1, worker_id="w2")
    s.finish("a")
    assert not is_current(s.state, "a", 1)
