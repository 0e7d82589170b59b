"""The live progress view's cells: times while waiting, starting and running, the
headline, and the notes on failures that are not the script's."""

from __future__ import annotations

import io
from datetime import timedelta

from rich.console import Console

from tests.unit.domain.harness import T0, Scenario, job, pipeline
from xxci.cli.display.progress import Progress, failure_notes, run_headline, time_cell
from xxci.common.events import JobFinished
from xxci.common.status import FailureReason


def scenario() -> Scenario:
    return Scenario(pipeline(job("a"), job("b"), job("c")))


def test_times_while_waiting_starting_and_running() -> None:
    s = scenario()
    later = T0 + timedelta(seconds=3)
    assert time_cell(s.job("a"), later).plain == "waiting 3.0s"
    s.assign("a")
    assert time_cell(s.job("a"), later).plain == "starting 3.0s"
    s.now = T0 + timedelta(seconds=1)
    s.start("b")
    assert time_cell(s.job("b"), later).plain == "2.0s"
    assert run_headline(s.state, later).plain == "pipeline demo #7 RUNNING for 3.0s"


def test_failures_other_than_the_script_are_explained() -> None:
    s = scenario()
    s.run("a", exit_code=2)
    s.assign("b")
    s.record(
        JobFinished(
            "b",
            1,
            "FAILED",
            failure_reason=FailureReason.IMAGE_PULL_FAILURE.value,
            message="image 'x:1' could not be pulled",
        )
    )
    s.run("c")
    assert [n.plain for n in failure_notes(s.state)] == [
        "b: image_pull_failure: image 'x:1' could not be pulled"
    ]
    out = io.StringIO()
    progress = Progress(Console(file=out, width=100))
    for rec in s.records:
        progress.feed(rec)
    progress.summary()
    lines = out.getvalue().splitlines()
    assert "b: image_pull_failure: image 'x:1' could not be pulled" in lines
    assert lines[-1] == "pipeline demo #7 FAILED in 0.0s"


def test_job_names_with_brackets_are_shown_as_written() -> None:
    s = Scenario(pipeline(job("deploy: [aws, eu]"), job("test 1/2")))
    s.run("deploy: [aws, eu]")
    s.run("test 1/2")
    out = io.StringIO()
    progress = Progress(Console(file=out, width=100))
    for rec in s.records:
        progress.feed(rec)
    progress.summary()
    rows = [line.split() for line in out.getvalue().splitlines()]
    assert ["test", "deploy:", "[aws,", "eu]", "SUCCESS", "0.0s"] in rows
