"""The example pipelines of the repository, and the model's dict round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xxci.common.errors import SpecError
from xxci.common.spec import Pipeline, discover, load_pipeline_file

ROOT = Path(__file__).resolve().parents[3]
VALID = sorted((ROOT / "examples/valid").glob("*.yml")) + discover(ROOT)
INVALID = sorted((ROOT / "examples/invalid").glob("*.yml"))


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_examples_load_and_round_trip_through_dicts(path: Path) -> None:
    pipeline = load_pipeline_file(path)
    data = json.loads(json.dumps(pipeline.to_dict()))
    assert Pipeline.from_dict(data) == pipeline


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_examples_report_errors(path: Path) -> None:
    with pytest.raises(SpecError):
        load_pipeline_file(path)


def test_the_example_pipeline() -> None:
    pipeline = load_pipeline_file(ROOT / ".pipelines/example.yml", display_name="example.yml")
    assert pipeline.name == "example"
    assert pipeline.stages == ("build", "test")
    assert [(j.name, j.stage, j.needs) for j in pipeline.jobs] == [
        ("compile", "build", ()),
        ("smoke", "test", ()),
        ("count-sources", "test", ("compile",)),
    ]
    assert {j.image for j in pipeline.jobs} == {"xxci-test/busybox:latest"}
    compile_job = pipeline.job("compile")
    assert compile_job.artifacts is not None and compile_job.artifacts.paths == ("build/app.txt",)
    assert dict(pipeline.job("count-sources").variables) == {
        "APP_FILE": "build/app.txt",
        "MIN_SOURCES": "5",
    }


def test_the_invalid_example_reports_every_marked_line() -> None:
    with pytest.raises(SpecError) as info:
        load_pipeline_file(ROOT / "examples/invalid/many-errors.yml", display_name="m.yml")
    lines = (ROOT / "examples/invalid/many-errors.yml").read_text().splitlines()
    marked = [n for n, line in enumerate(lines, start=1) if "# error" in line]
    assert [d.line for d in info.value.diagnostics] == marked
