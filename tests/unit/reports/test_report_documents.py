"""The report document's narrowing, run references, verify's differences, and the
text tables. Pure."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console

from tests.unit.domain.harness import Scenario, job, pipeline
from xxci.cli.display.text import local_time, status_text, table
from xxci.common.api import ReportQuery
from xxci.common.errors import UsageError
from xxci.orchestrator.views.queries import parse_run_ref
from xxci.orchestrator.views.report import narrow, run_report, summary_of
from xxci.orchestrator.views.verify import differences


def finished_report() -> dict[str, Any]:
    s = Scenario(pipeline(job("a", "build"), job("b", "test"), job("c", "test")))
    s.run("a")
    s.run("b")
    s.run("c", exit_code=2)
    return run_report(s.state)


def test_levels_narrow_one_document() -> None:
    report = finished_report()
    assert narrow(report, "run") is report
    assert narrow(report, "runs") == {k: v for k, v in report.items() if k != "stages"}
    pipeline_level = narrow(report, "pipeline")
    assert pipeline_level == summary_of(report)
    assert pipeline_level is not None
    assert [set(s) for s in pipeline_level["stages"]] == [
        {"name", "status", "started_at", "finished_at", "duration"}
    ] * 2
    stage = narrow(report, "stage", "test")
    assert stage is not None
    assert [s["name"] for s in stage["stages"]] == ["test"]
    assert [j["name"] for j in stage["stages"][0]["jobs"]] == ["b", "c"]
    only = narrow(report, "job", "test", "c")
    assert only is not None
    assert only["stages"][0]["jobs"][0]["exit_code"] == 2
    assert narrow(report, "stage", "deploy") is None
    assert narrow(report, "job", "test", "a") is None
    assert narrow(summary_of(report), "runs") == narrow(report, "runs")


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        ("example#3", ("example", 3)),
        ("example/12", ("example", 12)),
        ("my-app.v2#1", ("my-app.v2", 1)),
        ("a1b2c3d4e5f6", None),
        ("example#", None),
        ("example#x", None),
        ("#3", None),
    ],
)
def test_run_references(ref: str, parsed: tuple[str, int] | None) -> None:
    assert parse_run_ref(ref) == parsed


def test_query_levels_and_usage() -> None:
    assert ReportQuery().level == "runs"
    assert ReportQuery(repo="r").level == "runs"
    assert ReportQuery(pipeline="p").level == "pipeline"
    assert ReportQuery(pipeline="p", run=2).level == "run"
    assert ReportQuery(pipeline="p", stage="s").level == "stage"
    assert ReportQuery(pipeline="p", stage="s", job="j", run=1).level == "job"
    with pytest.raises(UsageError, match=r"^--job needs --stage$"):
        ReportQuery(pipeline="p", job="j").check()
    with pytest.raises(UsageError, match=r"^--run must be a positive number, not -1$"):
        ReportQuery(pipeline="p", run=-1).check()


def test_differences_name_the_path_and_both_values() -> None:
    log = {"status": "SUCCESS", "stages": [{"jobs": [{"exit_code": 0}, {"exit_code": 1}]}]}
    file = {"status": "FAILED", "stages": [{"jobs": [{"exit_code": 0}]}], "extra": True}
    assert differences(log, file, "file has") == [
        "extra: file has True, the log has no such field",
        "stages[0].jobs: file has 1 entries, the log says 2",
        "status: file has 'FAILED', the log says 'SUCCESS'",
    ]
    assert differences({"a": 1}, {"a": True}, "x has") == ["a: x has True, the log says 1"]
    assert differences({"a": 1}, {}, "x has") == ["a: missing, the log says 1"]
    many = differences(list(range(20)), [-1] * 20, "x has")
    assert len(many) == 11 and many[-1] == "... and 10 more differences"


def test_tables_are_aligned_without_trailing_blanks() -> None:
    text = table(["A", "BB", "C"], [["long value", "", ""], ["x", "y", "z"]])
    assert text.plain.splitlines() == ["A           BB  C", "long value", "x           y   z"]


def test_status_is_coloured_on_a_terminal_only() -> None:
    text = table(["STATUS"], [[status_text("SUCCESS")], [status_text("FAILED", allowed=True)]])
    screen, pipe = io.StringIO(), io.StringIO()
    Console(file=screen, force_terminal=True, color_system="standard").print(text)
    assert "\x1b[32mSUCCESS" in screen.getvalue()
    assert "\x1b[33mFAILED" in screen.getvalue()
    Console(file=pipe).print(text)
    assert "\x1b" not in pipe.getvalue()


def test_local_time_drops_the_date_of_the_same_day() -> None:
    start = datetime(2024, 5, 1, 12, 0, tzinfo=UTC).isoformat()
    end = datetime(2024, 5, 1, 12, 30, 5, tzinfo=UTC).isoformat()
    local_end = datetime.fromisoformat(end).astimezone()
    assert local_time(end) == local_end.strftime("%Y-%m-%d %H:%M:%S")
    assert local_time(end, since=start) == local_end.strftime("%H:%M:%S")
    assert local_time(None) == ""
