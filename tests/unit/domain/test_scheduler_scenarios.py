"""Scheduler scenarios: a run driven through the real fold and scheduler, with the
worker's part scripted by each test (see ``harness.Scenario``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from xxci.common.events import JobAttemptLost, JobFinished, JobQueued, JobStarted, StageStarted
from xxci.common.status import FailureReason, JobStatus, RunStatus, StageStatus
from xxci.orchestrator.domain.lookup import is_current, queued_jobs, ready_jobs, running_jobs
from xxci.orchestrator.domain.scheduler import decide, jobs_to_cancel
from xxci.orchestrator.domain.settings import Settings

from .harness import Scenario, job, pipeline

# --- the happy path ------------------------------------------------------------------


def test_success_across_stages() -> None:
    s = Scenario(pipeline(job("compile", "build"), job("unit", "test"), job("lint", "test")))
    assert s.history() == ["RunCreated", "StageStarted build", "JobQueued compile#1"]
    assert s.state.status is RunStatus.RUNNING
    assert s.stage_statuses() == {"build": "RUNNING", "test": "PENDING"}

    s.run("compile")
    s.run("unit")
    s.run("lint")

    assert s.history(3) == [
        "JobFinished compile#1 SUCCESS",
        "StageFinished build SUCCESS",
        "StageStarted test",
        "JobQueued unit#1",
        "JobQueued lint#1",
        "JobFinished unit#1 SUCCESS",
        "JobFinished lint#1 SUCCESS",
        "StageFinished test SUCCESS",
        "RunFinished SUCCESS",
    ]
    s.assert_run(RunStatus.SUCCESS)
    assert s.stage_statuses() == {"build": "SUCCESS", "test": "SUCCESS"}
    compile_ = s.job("compile")
    assert (compile_.attempt, compile_.worker_id, dict(compile_.steps)) == (1, "w1", {0: 0})
    assert [a.status for a in compile_.attempts] == [JobStatus.SUCCESS]
    assert s.state.version == len(s.records)


def test_jobs_of_a_stage_are_queued_together() -> None:
    s = Scenario(pipeline(job("a"), job("b"), job("c")))
    assert ["JobQueued a#1", "JobQueued b#1", "JobQueued c#1"] in s.batches
    assert [j.name for j in queued_jobs(s.state)] == ["a", "b", "c"]
    s.start("b")
    assert [j.name for j in running_jobs(s.state)] == ["b"]
    assert [j.name for j in queued_jobs(s.state)] == ["a", "c"]


def test_needs_order_jobs_within_a_stage() -> None:
    s = Scenario(
        pipeline(
            job("lint"),
            job("unit", needs=["lint"]),
            job("e2e", needs=["unit"]),
            job("docs"),
        )
    )
    assert s.statuses() == {"lint": "QUEUED", "unit": "PENDING", "e2e": "PENDING", "docs": "QUEUED"}
    assert ready_jobs(s.state) == []

    s.run("lint")
    assert s.statuses()["unit"] == "QUEUED"
    assert s.statuses()["e2e"] == "PENDING"
    s.run("unit")
    s.run("docs")
    assert s.statuses()["e2e"] == "QUEUED"
    s.run("e2e")

    assert s.history(2) == [
        "JobQueued lint#1",
        "JobQueued docs#1",
        "JobFinished lint#1 SUCCESS",
        "JobQueued unit#1",
        "JobFinished unit#1 SUCCESS",
        "JobQueued e2e#1",
        "JobFinished docs#1 SUCCESS",
        "JobFinished e2e#1 SUCCESS",
        "StageFinished test SUCCESS",
        "RunFinished SUCCESS",
    ]


def test_need_failed_as_allowed_lets_dependents_run() -> None:
    s = Scenario(pipeline(job("lint", allow=True), job("unit", needs=["lint"])))
    s.run("lint", exit_code=1)
    assert "JobQueued unit#1" in s.history()
    s.run("unit")
    s.assert_run(RunStatus.SUCCESS)
    lint = s.job("lint")
    assert (lint.status, lint.allowed_failure, lint.exit_code) == (JobStatus.FAILED, True, 1)


# --- failures ------------------------------------------------------------------------


def test_failure_lets_running_siblings_finish_then_skips_later_stages() -> None:
    s = Scenario(
        pipeline(
            job("a", "build"),
            job("b", "build"),
            job("c", "build", needs=["a"]),
            job("t1", "test"),
            job("t2", "test"),
            job("d", "deploy"),
        )
    )
    s.start("a")
    s.start("b")
    mark = len(s.log)
    s.finish("a", exit_code=2)

    # c can never run; b keeps running and the stage waits for it.
    assert s.history(mark) == [
        "JobFinished a#1 FAILED script_failure",
        "JobFinished c#0 FAILED dependency_failed",
    ]
    assert s.job("c").message == "need 'a' failed (script_failure)"
    assert s.job("b").status is JobStatus.RUNNING
    assert s.state.stages["build"].status is StageStatus.RUNNING

    mark = len(s.log)
    s.finish("b")
    assert s.history(mark) == [
        "JobFinished b#1 SUCCESS",
        "StageFinished build FAILED",
        "JobFinished t1#0 SKIPPED",
        "JobFinished t2#0 SKIPPED",
        "JobFinished d#0 SKIPPED",
        "StageFinished test SKIPPED",
        "StageFinished deploy SKIPPED",
        "RunFinished FAILED",
    ]
    s.assert_run(RunStatus.FAILED)
    assert s.stage_statuses() == {"build": "FAILED", "test": "SKIPPED", "deploy": "SKIPPED"}
    assert s.job("t1").message == "not run: stage 'build' did not succeed"
    assert s.state.stages["test"].started_at is None


def test_allow_failure_true_does_not_fail_the_stage() -> None:
    s = Scenario(pipeline(job("flaky", "build", allow=True), job("ok", "build"), job("t", "test")))
    s.run("flaky", exit_code=1)
    s.run("ok")
    s.run("t")
    s.assert_run(RunStatus.SUCCESS)
    assert s.stage_statuses() == {"build": "SUCCESS", "test": "SUCCESS"}
    flaky = s.job("flaky")
    assert flaky.status is JobStatus.FAILED
    assert flaky.allowed_failure
    assert flaky.failure_reason is FailureReason.SCRIPT_FAILURE


@pytest.mark.parametrize(
    ("exit_code", "allowed", "result"),
    [(3, True, RunStatus.SUCCESS), (4, False, RunStatus.FAILED)],
)
def test_allow_failure_exit_codes(exit_code: int, allowed: bool, result: RunStatus) -> None:
    s = Scenario(pipeline(job("probe", exit_codes=[3, 137])))
    s.run("probe", exit_code=exit_code)
    s.assert_run(result)
    assert s.job("probe").allowed_failure is allowed


@pytest.mark.parametrize(
    ("exit_codes", "allowed", "result"),
    [((), True, RunStatus.SUCCESS), ((3,), False, RunStatus.FAILED)],
)
def test_allow_failure_on_timeout(
    exit_codes: tuple[int, ...], allowed: bool, result: RunStatus
) -> None:
    """``allow_failure: true`` covers a timeout; ``exit_codes`` cover script failures only."""
    s = Scenario(pipeline(job("slow", allow=True, exit_codes=exit_codes, timeout=60)))
    s.start("slow")
    s.tick(121)
    s.assert_run(result)
    assert s.job("slow").failure_reason is FailureReason.TIMEOUT
    assert s.job("slow").allowed_failure is allowed


def test_dependency_failure_propagates_transitively() -> None:
    s = Scenario(
        pipeline(
            job("a"),
            job("b", needs=["a"]),
            job("c", needs=["b"]),
            job("d", needs=["c"]),
            job("e"),
        )
    )
    s.start("e")
    mark = len(s.log)
    s.run("a", exit_code=1)
    assert s.history(mark) == [
        "JobFinished a#1 FAILED script_failure",
        "JobFinished b#0 FAILED dependency_failed",
        "JobFinished c#0 FAILED dependency_failed",
        "JobFinished d#0 FAILED dependency_failed",
    ]
    assert s.job("c").message == "need 'b' failed (dependency_failed)"
    assert s.job("d").attempts == ()
    assert s.state.stages["test"].status is StageStatus.RUNNING  # e still runs

    s.finish("e")
    s.assert_run(RunStatus.FAILED)
    assert s.history()[-2:] == ["StageFinished test FAILED", "RunFinished FAILED"]


# --- retries, lost workers, timeouts -------------------------------------------------


def test_retry_until_success() -> None:
    s = Scenario(pipeline(job("flaky", retry=2)))
    s.run("flaky", exit_code=1)
    s.run("flaky", exit_code=1)
    s.run("flaky")
    assert s.history(2) == [
        "JobQueued flaky#1",
        "JobFinished flaky#1 FAILED script_failure",
        "JobQueued flaky#2",
        "JobFinished flaky#2 FAILED script_failure",
        "JobQueued flaky#3",
        "JobFinished flaky#3 SUCCESS",
        "StageFinished test SUCCESS",
        "RunFinished SUCCESS",
    ]
    flaky = s.job("flaky")
    assert [(a.number, a.status, a.exit_code) for a in flaky.attempts] == [
        (1, JobStatus.FAILED, 1),
        (2, JobStatus.FAILED, 1),
        (3, JobStatus.SUCCESS, 0),
    ]
    assert flaky.exit_code == 0
    assert flaky.failure_reason is None


def test_retry_budget_runs_out() -> None:
    s = Scenario(pipeline(job("flaky", retry=1), job("dependent", needs=["flaky"], retry=3)))
    s.run("flaky", exit_code=1)
    s.run("flaky", exit_code=1)
    s.assert_run(RunStatus.FAILED)
    assert s.job("flaky").attempt == 2
    assert "JobQueued flaky#3" not in s.log
    # A failed need is not something a retry can fix.
    assert s.job("dependent").failure_reason is FailureReason.DEPENDENCY_FAILED
    assert "JobQueued dependent#1" not in s.log


def test_lost_worker_requeues_without_using_the_retry_budget() -> None:
    s = Scenario(pipeline(job("j")))
    s.start("j", worker="w1")
    s.lose("j")
    assert s.history()[-2:] == ["JobAttemptLost j#1", "JobQueued j#2"]
    assert not is_current(s.state, "j", 1)
    assert is_current(s.state, "j", 2)
    s.start("j", worker="w2")
    s.lose("j")
    s.run("j")
    s.assert_run(RunStatus.SUCCESS)
    j = s.job("j")
    assert [(a.number, a.worker_id, a.lost, a.failure_reason) for a in j.attempts] == [
        (1, "w1", True, FailureReason.WORKER_LOST),
        (2, "w2", True, FailureReason.WORKER_LOST),
        (3, "w1", False, None),
    ]
    assert (j.lost_attempts, j.failed_attempts) == (2, 0)


def test_late_report_of_a_lost_attempt_is_ignored() -> None:
    s = Scenario(pipeline(job("j")))
    s.start("j")
    attempt = s.job("j").attempt
    s.append(JobAttemptLost(job="j", attempt=attempt, reason="lease expired"))
    assert s.job("j").status is JobStatus.PENDING
    s.append(JobFinished(job="j", attempt=attempt, status="SUCCESS", exit_code=0))
    assert s.job("j").status is JobStatus.PENDING
    s.settle()
    assert s.history()[-1] == "JobQueued j#2"


def test_gives_up_after_three_lost_attempts() -> None:
    s = Scenario(pipeline(job("j", retry=2)))
    for _ in range(3):
        s.start("j")
        s.lose("j")
    assert s.history()[-4:] == [
        "JobAttemptLost j#3",
        "JobFinished j#3 FAILED worker_lost",
        "StageFinished test FAILED",
        "RunFinished FAILED",
    ]
    assert s.job("j").message == "gave up after losing the worker 3 times"


def test_the_lost_attempts_budget_is_a_setting() -> None:
    s = Scenario(pipeline(job("j")), settings=Settings(max_lost_attempts=1))
    s.start("j")
    s.lose("j")
    assert s.history()[-4:-2] == ["JobAttemptLost j#1", "JobFinished j#1 FAILED worker_lost"]
    assert s.job("j").message == "gave up after losing the worker 1 times"


def test_timeout_backstop_from_container_start() -> None:
    s = Scenario(pipeline(job("slow", timeout=60)))
    s.assign("slow")
    s.tick(100)  # an image pull: not counted
    s.record(JobStarted(job="slow", attempt=1))
    s.tick(119)
    assert s.job("slow").status is JobStatus.RUNNING
    s.tick(1)
    assert s.history()[-3:] == [
        "JobFinished slow#1 FAILED timeout",
        "StageFinished test FAILED",
        "RunFinished FAILED",
    ]
    assert s.job("slow").message == "no result 60s after it started (timeout)"


def test_the_backstops_wait_out_an_after_script_too() -> None:
    slow = replace(job("slow", timeout=60), after_script=("echo bye",))
    s = Scenario(pipeline(slow))
    s.start("slow")
    s.tick(60 + 60 + 299)
    assert s.job("slow").status is JobStatus.RUNNING
    s.tick(1)
    assert s.job("slow").message == "no result 60s after it started (timeout)"

    s = Scenario(pipeline(slow))
    s.start("slow")
    s.cancel()
    s.tick(Settings().cancel_grace + 60 + 299)
    assert s.job("slow").status is JobStatus.RUNNING
    s.tick(1)
    assert s.job("slow").message == "canceled; the worker did not confirm in time"


def test_the_timeout_grace_is_a_setting() -> None:
    s = Scenario(pipeline(job("slow", timeout=60)), settings=Settings(timeout_grace=5))
    s.start("slow")
    s.tick(64)
    assert s.job("slow").status is JobStatus.RUNNING
    s.tick(1)
    assert s.history()[-3] == "JobFinished slow#1 FAILED timeout"


def test_timeout_backstop_when_the_container_never_starts() -> None:
    s = Scenario(pipeline(job("stuck", timeout=60, retry=1)))
    s.assign("stuck")
    s.tick(120)
    assert s.history()[-2:] == ["JobFinished stuck#1 FAILED timeout", "JobQueued stuck#2"]
    assert not is_current(s.state, "stuck", 1)


def test_a_queued_job_waits_for_a_worker_as_long_as_it_takes() -> None:
    s = Scenario(pipeline(job("j", timeout=60)))
    mark = len(s.log)
    s.tick(30 * 24 * 3600)
    assert s.log[mark:] == []
    assert s.job("j").status is JobStatus.QUEUED


# --- cancel --------------------------------------------------------------------------


def _cancel_pipeline(settings: Settings | None = None) -> Scenario:
    return Scenario(
        pipeline(
            job("r", "test"),
            job("q", "test"),
            job("p", "test", needs=["r"]),
            job("d", "deploy"),
        ),
        settings=settings,
    )


def test_cancel_run() -> None:
    s = _cancel_pipeline()
    s.start("r")
    mark = len(s.log)
    s.cancel()
    assert s.history(mark) == [
        "CancelRequested",
        "JobFinished q#1 CANCELED canceled",
        "JobFinished p#0 CANCELED canceled",
        "JobFinished d#0 CANCELED canceled",
    ]
    assert jobs_to_cancel(s.state) == [("r", 1)]
    assert s.state.status is RunStatus.RUNNING

    mark = len(s.log)
    s.report_canceled("r")
    assert s.history(mark) == [
        "JobFinished r#1 CANCELED canceled",
        "StageFinished test CANCELED",
        "StageFinished deploy CANCELED",
        "RunFinished CANCELED",
    ]
    s.assert_run(RunStatus.CANCELED)
    assert jobs_to_cancel(s.state) == []


def test_cancel_backstop_when_the_worker_never_confirms() -> None:
    s = _cancel_pipeline()
    s.start("r")
    s.cancel()
    s.tick(Settings().cancel_grace + 59)
    assert s.job("r").status is JobStatus.RUNNING
    s.tick(1)
    assert s.history()[-4] == "JobFinished r#1 CANCELED canceled"
    assert s.job("r").message == "canceled; the worker did not confirm in time"
    s.assert_run(RunStatus.CANCELED)


def test_the_cancel_backstop_waits_out_a_grace_longer_than_itself() -> None:
    # The worker was given 90 s between SIGTERM and SIGKILL: until they and the
    # back-stop have passed, the job is still running there and holds its slot.
    s = _cancel_pipeline(Settings(cancel_grace=90, cancel_backstop=60))
    s.start("r")
    s.cancel()
    s.tick(149)
    assert s.job("r").status is JobStatus.RUNNING
    assert jobs_to_cancel(s.state) == [("r", 1)]
    s.tick(1)
    assert s.history()[-4] == "JobFinished r#1 CANCELED canceled"


def test_cancel_after_a_failure_ends_failed() -> None:
    s = _cancel_pipeline()
    s.start("q")
    s.run("r", exit_code=1)
    s.cancel()
    s.report_canceled("q")
    s.assert_run(RunStatus.FAILED)
    assert s.stage_statuses() == {"test": "FAILED", "deploy": "CANCELED"}


def test_cancel_before_the_first_stage_starts() -> None:
    s = Scenario(pipeline(job("a", "build"), job("b", "test")), settle=False)
    s.cancel()
    assert s.history() == [
        "RunCreated",
        "CancelRequested",
        "JobFinished a#0 CANCELED canceled",
        "JobFinished b#0 CANCELED canceled",
        "StageFinished build CANCELED",
        "StageFinished test CANCELED",
        "RunFinished CANCELED",
    ]
    s.assert_run(RunStatus.CANCELED)
    assert s.state.started_at is None


def test_cancel_one_queued_job() -> None:
    s = Scenario(
        pipeline(
            job("x", "build"),
            job("y", "build"),
            job("z", "build", needs=["x"]),
            job("d", "deploy"),
        )
    )
    s.start("y")
    mark = len(s.log)
    s.cancel("x")
    assert s.history(mark) == [
        "CancelRequested x",
        "JobFinished x#1 CANCELED canceled",
        "JobFinished z#0 FAILED dependency_failed",
    ]
    assert s.job("z").message == "need 'x' was canceled"
    s.finish("y")
    # The cancel is the cause; z only a consequence of it.
    assert s.stage_statuses() == {"build": "CANCELED", "deploy": "SKIPPED"}
    s.assert_run(RunStatus.CANCELED)
    assert s.job("d").status is JobStatus.SKIPPED


def test_cancel_one_running_job_is_not_retried() -> None:
    s = Scenario(pipeline(job("long", retry=2), job("other")))
    s.start("long")
    s.start("other")
    s.cancel("long")
    assert jobs_to_cancel(s.state) == [("long", 1)]
    # Killed by the cancel, the worker may well report a plain failure: no retry.
    s.finish("long", exit_code=143)
    assert "JobQueued long#2" not in s.log
    assert jobs_to_cancel(s.state) == []
    s.finish("other")
    s.assert_run(RunStatus.FAILED)


def test_cancel_one_job_of_a_later_stage_in_advance() -> None:
    s = Scenario(pipeline(job("build", "build"), job("deploy", "deploy")))
    s.cancel("deploy")
    assert s.job("deploy").status is JobStatus.CANCELED
    s.run("build")
    assert s.history()[-4:] == [
        "StageFinished build SUCCESS",
        "StageStarted deploy",
        "StageFinished deploy CANCELED",
        "RunFinished CANCELED",
    ]


def test_cancel_of_a_finished_job_changes_nothing() -> None:
    s = Scenario(pipeline(job("a"), job("b")))
    s.run("a")
    before = s.job("a")
    mark = len(s.log)
    s.cancel("a")
    assert s.log[mark:] == ["CancelRequested a"]
    assert s.job("a") == before


# --- contracts -----------------------------------------------------------------------


def test_need_cycle_fails_instead_of_hanging() -> None:
    s = Scenario(pipeline(job("a", needs=["b"]), job("b", needs=["a"]), job("c")))
    s.run("c")
    assert s.job("a").failure_reason is FailureReason.DEPENDENCY_FAILED
    assert s.job("a").message == "needs 'b' can never finish"
    s.assert_run(RunStatus.FAILED)


def test_nothing_happens_after_the_run_finished() -> None:
    s = Scenario(pipeline(job("a")))
    s.run("a")
    s.assert_run(RunStatus.SUCCESS)
    final = s.state
    s.record(JobFinished(job="a", attempt=1, status="FAILED"))
    s.cancel()
    assert s.state.jobs == final.jobs
    assert s.state.status is RunStatus.SUCCESS
    assert not s.state.cancel_requested


def test_decide_is_idempotent() -> None:
    """Same state, same answer; once applied, a decision is never made again; a state
    that waits on workers decides nothing, however often it is asked."""
    s = Scenario(pipeline(job("a", "build"), job("b", "build"), job("c", "test")), settle=False)
    decided = decide(s.state, s.now, s.settings)
    assert decided == decide(s.state, s.now, s.settings) == [StageStarted(stage="build")]
    s.append(*decided)
    second = decide(s.state, s.now, s.settings)
    assert second == [JobQueued(job="a", attempt=1), JobQueued(job="b", attempt=1)]
    s.append(*second)
    s.start("a")
    for minutes in (0, 1, 30, 59):
        assert decide(s.state, s.now + timedelta(minutes=minutes), s.settings) == []
