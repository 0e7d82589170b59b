"""The top level, ``pipeline``, ``stages``, ``default`` and the shape of ``jobs``."""

from __future__ import annotations

import pytest

from xxci.common.spec import DEFAULT_TIMEOUT_SECONDS, AllowFailure

from .helpers import VALID, errors, load, with_jobs

JOBS = """\
jobs:
  - name: compile
    stage: build
    image: busybox
    script: [make]
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "pipeline: {name: demo}\njbos: []\n" + JOBS,
            "p.yml:2:1: unknown key 'jbos' (did you mean 'jobs'?)",
        ),
        (
            "pipeline: {name: demo}\nimage: busybox\n" + JOBS,
            "p.yml:2:1: unknown key 'image'",
        ),
        (
            "pipeline: {name: demo}\ndefaults: {image: x}\n" + JOBS,
            "p.yml:2:1: unknown key 'defaults' (did you mean 'default'?)",
        ),
        ("stages: [build]\n" + JOBS, "p.yml:1:1: missing required key 'pipeline'"),
        ("pipeline: demo\n" + JOBS, "p.yml:1:11: expected a mapping for 'pipeline', found 'demo'"),
        ("pipeline:\n" + JOBS, "p.yml:1:1: expected a mapping for 'pipeline', found null"),
        ("pipeline: {}\n" + JOBS, "p.yml:1:11: missing required key 'name' in 'pipeline'"),
        (
            "pipeline:\n  name: 1234\n" + JOBS,
            "p.yml:2:9: expected a string for 'name' in 'pipeline', found an integer (1234)"
            " (quote it to make it a string)",
        ),
        ("pipeline:\n  name: ''\n" + JOBS, "p.yml:2:9: empty 'name' in 'pipeline'"),
        (
            "pipeline:\n  name: my pipeline\n" + JOBS,
            "p.yml:2:9: invalid pipeline name 'my pipeline'; use letters, digits, '.', '_'"
            " and '-', starting with a letter or digit",
        ),
        ("pipeline: {name: demo}\n", "p.yml:1:1: missing required key 'jobs'"),
        (
            "pipeline: {name: demo}\njobs: []\n",
            "p.yml:2:7: 'jobs' is empty; expected at least one job",
        ),
        (
            "pipeline: {name: demo}\njobs: {}\n",
            "p.yml:2:7: 'jobs' is empty; expected at least one job",
        ),
        (
            "pipeline: {name: demo}\njobs: {.hidden: {}}\n",
            "p.yml:2:7: 'jobs' is empty; expected at least one job",
        ),
        (
            "pipeline: {name: demo}\njobs: compile\n",
            "p.yml:2:7: expected a list of jobs for 'jobs', found 'compile'",
        ),
    ],
)
def test_top_level_and_pipeline_section(text: str, expected: str) -> None:
    assert errors(text) == [expected]


def test_a_misspelt_name_is_reported_once_as_a_near_miss() -> None:
    assert errors("pipeline: {nmae: demo}\n" + JOBS) == [
        "p.yml:1:12: unknown key 'nmae' in 'pipeline' (did you mean 'name'?)",
    ]


def test_a_missing_key_without_a_near_miss_is_reported_as_missing() -> None:
    assert errors("pipeline: {title: demo}\n" + JOBS) == [
        "p.yml:1:11: missing required key 'name' in 'pipeline'",
        "p.yml:1:12: unknown key 'title' in 'pipeline'",
    ]


def test_hidden_top_level_keys_are_allowed_for_anchors() -> None:
    pipeline = load(VALID + ".templates:\n  anything: [goes]\n")
    assert pipeline.name == "demo"


def test_a_valid_pipeline_resolves() -> None:
    pipeline = load(VALID)
    assert pipeline.name == "demo"
    assert pipeline.stages == ("build", "test")
    assert pipeline.source_file == "p.yml"
    compile_job = pipeline.job("compile")
    assert compile_job.image == "busybox"
    assert compile_job.script == ("make",)
    assert compile_job.timeout_seconds == DEFAULT_TIMEOUT_SECONDS == 3600
    assert compile_job.allow_failure == AllowFailure()
    assert compile_job.artifacts is None
    assert compile_job.retry == 0
    assert compile_job.tags == ()
    assert compile_job.needs == ()


# --- stages ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stages", "expected"),
    [
        (
            '"build, test"',
            ["p.yml:3:9: expected a list of stage names for 'stages', found 'build, test'"],
        ),
        ("[]", ["p.yml:3:9: 'stages' is empty; expected at least one stage name"]),
        (
            "[build, test, 3]",
            ["p.yml:3:23: expected a stage name (a string) in 'stages', found an integer (3)"],
        ),
        ("[build, '', test]", ["p.yml:3:17: empty stage name in 'stages'"]),
        ("[build, test, build]", ["p.yml:3:23: duplicate stage 'build' (first listed at line 3)"]),
        ("[build, test, deploy]", ["p.yml:3:23: stage 'deploy' has no jobs"]),
    ],
)
def test_stage_list_rules(stages: str, expected: list[str]) -> None:
    text = with_jobs(
        """\
        - name: compile
          stage: build
          script: [make]
        - name: unit
          stage: test
          script: [make test]
        """,
        stages=stages,
    )
    assert errors(text) == expected


def test_default_stages_apply_and_unused_ones_are_dropped() -> None:
    pipeline = load(
        """\
        pipeline: {name: demo}
        jobs:
          - {name: docs, stage: doc, image: i, script: [x]}
          - {name: compile, stage: build, image: i, script: [x]}
        """
    )
    assert pipeline.stages == ("build", "doc")


def test_a_job_in_an_undefined_stage_gets_a_suggestion_or_the_stage_list() -> None:
    text = with_jobs(
        """\
        - {name: compile, stage: biuld, script: [make]}
        - {name: unit, stage: qa, script: [make test]}
        """
    )
    assert errors(text) == [
        "p.yml:7:28: job 'compile' is in undefined stage 'biuld' (did you mean 'build'?)",
        "p.yml:8:25: job 'unit' is in undefined stage 'qa' (stages: build, test)",
    ]


def test_a_job_without_stage_runs_in_test_as_in_gitlab() -> None:
    pipeline = load(
        with_jobs(
            """\
            - {name: compile, stage: build, script: [make]}
            - {name: unit, script: [make test]}
            """
        )
    )
    assert pipeline.job("unit").stage == "test"


def test_a_job_without_stage_is_an_error_when_there_is_no_test_stage() -> None:
    text = with_jobs("- {name: compile, script: [make]}\n", stages="[build]")
    assert errors(text) == [
        "p.yml:7:5: missing required key 'stage' in job 'compile'"
        " (there is no stage 'test' to default to)"
    ]


# --- default ---------------------------------------------------------------------------


def test_default_section_rules() -> None:
    text = """\
pipeline: {name: demo}
default:
  image: busybox
  script: [echo]
  stage: build
  timout: 5m
  retry: many
jobs:
  - {name: unit, script: [x]}
"""
    assert errors(text) == [
        "p.yml:4:3: 'script' cannot be set in 'default'; set it on each job",
        "p.yml:5:3: 'stage' cannot be set in 'default'; set it on each job",
        "p.yml:6:3: unknown key 'timout' in 'default' (did you mean 'timeout'?)",
        "p.yml:7:10: expected an integer for 'retry' in 'default', found 'many'",
    ]


def test_default_must_be_a_mapping() -> None:
    text = "pipeline: {name: demo}\ndefault: [image]\njobs: [{name: a, image: i, script: x}]\n"
    assert errors(text) == ["p.yml:2:10: expected a mapping for 'default', found a list"]


def test_jobs_inherit_default_and_may_override_it() -> None:
    pipeline = load(
        """\
        pipeline: {name: demo}
        default:
          image: busybox
          variables: {A: "1", B: "2"}
          timeout: 30m
          allow_failure: true
          retry: 1
          tags: [docker]
        jobs:
          - name: plain
            script: [x]
          - name: custom
            image: alpine
            variables: {B: "3", C: "4"}
            timeout: 90s
            allow_failure: false
            retry: 0
            tags: []
            script: [y]
        """
    )
    plain, custom = pipeline.jobs
    assert (plain.image, dict(plain.variables), plain.timeout_seconds) == (
        "busybox",
        {"A": "1", "B": "2"},
        1800,
    )
    assert (plain.allow_failure.allowed, plain.retry, plain.tags) == (True, 1, ("docker",))
    assert (custom.image, dict(custom.variables), custom.timeout_seconds) == (
        "alpine",
        {"A": "1", "B": "3", "C": "4"},
        90,
    )
    assert (custom.allow_failure.allowed, custom.retry, custom.tags) == (False, 0, ())


def test_an_invalid_default_image_does_not_also_report_missing_images() -> None:
    text = "pipeline: {name: demo}\ndefault: {image: 5}\njobs: [{name: a, script: x}]\n"
    assert errors(text) == [
        "p.yml:2:18: expected a string for 'image' in 'default', found an integer (5)"
        " (quote it to make it a string)"
    ]


# --- the shape of jobs ------------------------------------------------------------------


def test_job_list_items_must_be_named_mappings() -> None:
    text = with_jobs(
        """\
        - compile
        - stage: build
          script: [make]
        - name: 7
          stage: test
          script: [make test]
        """
    )
    assert errors(text) == [
        "p.yml:7:5: expected a job (a mapping) in 'jobs', found 'compile'",
        "p.yml:8:5: missing required key 'name' in job #2",
        "p.yml:10:11: expected a string for 'name' in job #3, found an integer (7)"
        " (quote it to make it a string)",
    ]


def test_jobs_as_a_mapping() -> None:
    pipeline = load(
        """\
        pipeline: {name: demo}
        default: {image: busybox}
        jobs:
          compile: {stage: build, script: make}
          unit: {name: unit, stage: test, script: make test}
        """
    )
    assert [(j.name, j.stage, j.script) for j in pipeline.jobs] == [
        ("compile", "build", ("make",)),
        ("unit", "test", ("make test",)),
    ]


def test_job_mapping_rules() -> None:
    text = """\
pipeline: {name: demo}
default: {image: busybox}
jobs:
  compile: [make]
  unit: {name: tests, script: x}
  1: {script: x}
"""
    assert errors(text) == [
        "p.yml:4:12: expected a job (a mapping) for 'compile' in 'jobs', found a list",
        "p.yml:5:16: job name 'tests' does not match its key 'unit'",
        "p.yml:6:3: expected a job name (a non-empty string) as a key of 'jobs', found '1'",
    ]


def test_duplicate_job_names() -> None:
    text = with_jobs(
        """\
        - {name: compile, stage: build, script: [make]}
        - {name: unit, stage: test, script: [make test]}
        - {name: compile, stage: test, script: [make again]}
        """
    )
    assert errors(text) == ["p.yml:9:12: duplicate job name 'compile' (first defined at line 7)"]


def test_unknown_job_keys_get_a_suggestion() -> None:
    text = with_jobs(
        """\
        - name: compile
          stage: build
          scirpt: [make]
          needz: []
          color: blue
        - {name: unit, stage: test, script: [make test]}
        """
    )
    assert errors(text) == [
        "p.yml:9:5: unknown key 'scirpt' in job 'compile' (did you mean 'script'?)",
        "p.yml:10:5: unknown key 'needz' in job 'compile' (did you mean 'needs'?)",
        "p.yml:11:5: unknown key 'color' in job 'compile'",
    ]


def test_missing_image_without_a_default() -> None:
    text = """\
pipeline: {name: demo}
jobs:
  - name: compile
    stage: build
    script: [make]
"""
    assert errors(text) == [
        "p.yml:3:5: missing required key 'image' in job 'compile' (and 'default' sets no image)"
    ]


def test_a_job_without_a_name_is_called_by_its_position() -> None:
    text = "pipeline: {name: demo}\nstages: [build]\njobs:\n  - {script: x}\n"
    assert errors(text) == [
        "p.yml:4:5: missing required key 'image' in job #1 (and 'default' sets no image)",
        "p.yml:4:5: missing required key 'name' in job #1",
        "p.yml:4:5: missing required key 'stage' in job #1"
        " (there is no stage 'test' to default to)",
    ]
