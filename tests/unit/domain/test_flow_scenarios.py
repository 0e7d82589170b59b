"""GitLab's scheduling (``flow``): ``when``, manual jobs, delays and the DAG across
stages, driven through the real fold and scheduler (see ``harness.Scenario``)."""

from __future__ import annotations

from collections.abc import Sequence

from xxci.common.events import JobPlayed, RunReopened
from xxci.common.spec.model import AllowFailure, Job, Pipeline, When
from xxci.common.status import FailureReason, RunStatus
from xxci.orchestrator.domain.play import decide_play

from .harness import Scenario, without_position

STAGES = ("build", "test", "deploy")


def gjob(
    name: str,
    stage: str = "test",
    *,
    when: When = When.ON_SUCCESS,
    needs: Sequence[str] | None = None,
    allow: bool | None = None,
    start_in: int = 0,
) -> Job:
    """A job as the .gitlab-ci.yml loader makes it (``needs`` given: a DAG job)."""
    allowed = (when is When.MANUAL) if allow is None else allow
    return Job(
        name=name,
        stage=stage,
        image="alpine:3",
        script=("true",),
        needs=tuple(needs or ()),
        dag=needs is not None,
        when=when,
        allow_failure=AllowFailure(allowed=allowed),
        start_in_seconds=start_in,
    )


def gitlab(*jobs: Job) -> Pipeline:
    used = [s for s in STAGES if any(j.stage == s for j in jobs)]
    return Pipeline(name="gl", stages=tuple(used), jobs=tuple(jobs), kind="gitlab")


def test_on_failure_and_always_run_after_a_failure_the_rest_is_skipped() -> None:
    s = Scenario(
        gitlab(
            gjob("compile", "build"),
            gjob("unit"),
            gjob("report", when=When.ON_FAILURE),
            gjob("cleanup", "deploy", when=When.ALWAYS),
            gjob("ship", "deploy"),
        )
    )
    s.run("compile", exit_code=2)
    assert s.statuses() == {
        "compile": "FAILED",
        "unit": "SKIPPED",
        "report": "QUEUED",
        "cleanup": "PENDING",
        "ship": "PENDING",
    }
    assert s.job("unit").message == "not run: 'compile' failed"
    s.run("report")
    assert s.statuses()["cleanup"] == "QUEUED"
    assert s.statuses()["ship"] == "SKIPPED"
    s.run("cleanup")
    assert s.stage_statuses() == {"build": "FAILED", "test": "SUCCESS", "deploy": "SUCCESS"}
    assert s.state.status is RunStatus.FAILED


def test_on_failure_is_skipped_when_all_went_well() -> None:
    s = Scenario(gitlab(gjob("compile", "build"), gjob("report", when=When.ON_FAILURE)))
    s.run("compile")
    assert s.statuses()["report"] == "SKIPPED"
    assert s.job("report").message == "not run: nothing before it failed (when: on_failure)"
    assert s.state.status is RunStatus.SUCCESS


def test_an_optional_manual_job_waits_but_does_not_hold_the_run() -> None:
    s = Scenario(gitlab(gjob("compile", "build"), gjob("deploy", "test", when=When.MANUAL)))
    s.run("compile")
    assert s.history()[-5:] == [
        "StageStarted test",
        "JobAwaitingPlay deploy",
        "StageFinished build SUCCESS",
        "StageFinished test SKIPPED",
        "RunFinished SUCCESS",
    ]
    assert s.statuses()["deploy"] == "MANUAL"
    assert s.state.status is RunStatus.SUCCESS  # finished, the manual job never played


def test_a_manual_job_played_after_the_run_finished_opens_the_run_again() -> None:
    s = Scenario(
        gitlab(
            gjob("compile", "build"),
            gjob("deploy", "deploy", when=When.MANUAL),
            gjob("notify", "deploy", when=When.MANUAL),
        )
    )
    s.run("compile")
    assert s.state.status is RunStatus.SUCCESS
    decision = decide_play(s.state, "deploy", by="me")
    assert decision.message == "played job deploy of gl #7 (the run, SUCCESS, is open again)"
    mark = len(s.log)
    s.record(*decision.events)
    assert s.history(mark) == ["RunReopened deploy", "JobPlayed deploy", "JobQueued deploy#1"]
    assert (s.state.status, s.state.finished_at) == (RunStatus.RUNNING, None)
    assert s.stage_statuses() == {"build": "SUCCESS", "deploy": "RUNNING"}
    s.run("deploy", exit_code=1)
    assert s.history()[-3:] == [
        "JobFinished deploy#1 FAILED script_failure",
        "StageFinished deploy SUCCESS",
        "RunFinished SUCCESS",
    ]
    assert s.statuses()["notify"] == "MANUAL"  # still playable, the run open again then
    assert decide_play(s.state, "notify").accepted
    refused = decide_play(s.state, "compile")
    assert (refused.accepted, refused.message) == (False, "run gl #7 already finished (SUCCESS)")


def test_a_reopening_that_does_not_apply_is_ignored() -> None:
    s = Scenario(gitlab(gjob("compile", "build"), gjob("deploy", "deploy", when=When.MANUAL)))
    s.run("compile")
    before = without_position(s.state)
    s.record(RunReopened(job="compile"))  # not a manual job waiting: nothing opens
    assert without_position(s.state) == before


def test_a_blocking_manual_job_holds_the_later_stages_until_played() -> None:
    s = Scenario(
        gitlab(
            gjob("approve", "build", when=When.MANUAL, allow=False),
            gjob("ship", "deploy"),
        )
    )
    assert s.statuses() == {"approve": "MANUAL", "ship": "PENDING"}
    s.tick(3600)
    assert s.state.status.value == "RUNNING"
    s.record(JobPlayed(job="approve", by="me"))
    assert s.history()[-2:] == ["JobPlayed approve", "JobQueued approve#1"]
    s.run("approve")
    s.run("ship")
    assert s.state.status is RunStatus.SUCCESS


def test_a_job_that_needs_a_manual_job_waits_for_it_to_be_played() -> None:
    s = Scenario(
        gitlab(
            gjob("approve", "build", when=When.MANUAL), gjob("ship", "deploy", needs=["approve"])
        )
    )
    assert s.statuses() == {"approve": "MANUAL", "ship": "PENDING"}
    assert s.state.status.value == "RUNNING"
    assert s.stage_statuses()["build"] == "SKIPPED"
    s.record(JobPlayed(job="approve"))
    assert s.stage_statuses()["build"] == "RUNNING"  # open again for the played job
    s.run("approve")
    assert s.statuses()["ship"] == "QUEUED"
    s.run("ship")
    assert s.stage_statuses() == {"build": "SUCCESS", "deploy": "SUCCESS"}
    assert s.state.status is RunStatus.SUCCESS


def test_needs_start_a_job_whatever_its_stage() -> None:
    s = Scenario(
        gitlab(
            gjob("slow", "build"),
            gjob("fast", "build"),
            gjob("after-fast", "test", needs=["fast"]),
            gjob("lint", "deploy", needs=[]),
            gjob("plain", "test"),
        )
    )
    assert s.statuses() == {
        "slow": "QUEUED",
        "fast": "QUEUED",
        "after-fast": "PENDING",
        "lint": "QUEUED",
        "plain": "PENDING",
    }
    s.run("fast")
    assert s.statuses()["after-fast"] == "QUEUED"
    assert s.statuses()["plain"] == "PENDING"
    s.run("slow", exit_code=1)
    assert s.statuses()["plain"] == "SKIPPED"
    s.run("after-fast")
    s.run("lint")
    assert s.state.status is RunStatus.FAILED


def test_a_failed_need_skips_its_dependents() -> None:
    s = Scenario(
        gitlab(gjob("a", "build"), gjob("b", "test", needs=["a"]), gjob("c", "deploy", needs=["b"]))
    )
    s.run("a", exit_code=1)
    assert s.statuses() == {"a": "FAILED", "b": "SKIPPED", "c": "SKIPPED"}
    assert s.job("c").message == "not run: need 'b' was skipped"
    assert s.state.status is RunStatus.FAILED


def test_a_delayed_job_is_queued_after_its_delay() -> None:
    s = Scenario(gitlab(gjob("later", when=When.DELAYED, start_in=300)))
    assert s.statuses() == {"later": "DELAYED"}
    s.tick(299)
    assert s.statuses() == {"later": "DELAYED"}
    s.tick(1)
    assert s.statuses() == {"later": "QUEUED"}


def test_a_cancel_ends_manual_and_delayed_jobs() -> None:
    s = Scenario(
        gitlab(
            gjob("approve", "build", when=When.MANUAL, allow=False),
            gjob("later", "build", when=When.DELAYED, start_in=60),
            gjob("ship", "deploy"),
        )
    )
    s.cancel()
    assert s.statuses() == {"approve": "CANCELED", "later": "CANCELED", "ship": "CANCELED"}
    assert s.state.status is RunStatus.CANCELED


def test_allowed_failures_do_not_stop_the_later_stages() -> None:
    s = Scenario(gitlab(gjob("flaky", "build", allow=True), gjob("unit")))
    s.run("flaky", exit_code=1)
    assert s.statuses()["unit"] == "QUEUED"


def _retrying(**retry: object) -> Pipeline:
    job = Job(name="t", stage="test", image="alpine:3", script=("x",), retry=2, **retry)  # type: ignore[arg-type]
    return Pipeline(name="gl", stages=("test",), jobs=(job,), kind="gitlab")


def test_retry_when_retries_only_the_failures_it_names() -> None:
    s = Scenario(_retrying(retry_on=("timeout",)))
    s.start("t")
    s.finish("t", reason=FailureReason.TIMEOUT)
    assert (s.job("t").status.value, s.job("t").attempt) == ("QUEUED", 2)
    s.start("t")
    s.finish("t", exit_code=1)
    assert s.job("t").status.value == "FAILED"
    assert s.state.status is RunStatus.FAILED


def test_retry_exit_codes_retry_a_script_failure_with_one_of_them() -> None:
    s = Scenario(_retrying(retry_exit_codes=(137,)))
    s.start("t")
    s.finish("t", exit_code=137)
    assert s.job("t").attempt == 2
    s.start("t")
    s.finish("t", exit_code=1)
    assert s.state.status is RunStatus.FAILED
