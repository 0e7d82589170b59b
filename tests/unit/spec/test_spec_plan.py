"""The execution plan: stages in order, waves of parallel jobs."""

from __future__ import annotations

import pytest

from xxci.common.spec import Job, Pipeline, plan

from .helpers import load, with_jobs


def names(pipeline: Pipeline) -> list[tuple[str, list[list[str]]]]:
    return [
        (stage.name, [[job.name for job in wave] for wave in stage.waves])
        for stage in plan(pipeline).stages
    ]


def test_waves_follow_needs_within_a_stage() -> None:
    pipeline = load(
        with_jobs(
            """\
            - {name: compile, stage: build, script: [x]}
            - {name: publish, stage: test, needs: [package], script: [x]}
            - {name: unit, stage: test, needs: [compile], script: [x]}
            - {name: lint, stage: test, script: [x]}
            - {name: package, stage: test, needs: [unit, lint], script: [x]}
            - {name: docs, stage: test, needs: [unit], script: [x]}
            """
        )
    )
    assert names(pipeline) == [
        ("build", [["compile"]]),
        ("test", [["unit", "lint"], ["package", "docs"], ["publish"]]),
    ]


def test_the_widest_wave_is_the_most_jobs_at_once() -> None:
    pipeline = load(
        with_jobs(
            """\
            - {name: compile, stage: build, script: [x]}
            - {name: unit, stage: test, needs: [compile], script: [x]}
            - {name: lint, stage: test, script: [x]}
            - {name: docs, stage: test, script: [x]}
            - {name: package, stage: test, needs: [unit, lint], script: [x]}
            """
        )
    )
    assert plan(pipeline).widest_wave == 3  # unit, lint and docs; compile ran before


def test_plan_to_dict() -> None:
    pipeline = load(with_jobs("- {name: a, stage: build, script: [x]}\n", stages="[build]"))
    the_plan = plan(pipeline)
    assert the_plan.job_count == 1
    assert the_plan.to_dict() == {
        "pipeline": "demo",
        "source_file": "p.yml",
        "stages": [{"name": "build", "waves": [[pipeline.job("a").to_dict()]]}],
        "excluded": [],
        "not_run": "",
    }


def test_plan_rejects_a_cycle_in_an_unvalidated_pipeline() -> None:
    job_a = Job(name="a", stage="s", image="i", script=("x",), needs=("b",))
    job_b = Job(name="b", stage="s", image="i", script=("x",), needs=("a",))
    with pytest.raises(ValueError, match="cycle"):
        plan(Pipeline(name="p", stages=("s",), jobs=(job_a, job_b)))
