"""What GitLab does that is easy to get subtly wrong: ``dependencies`` of a DAG job,
``include`` wildcards, repeated keys, lists nested by ``!reference``, ``$VAR`` in
expressions, ``environment`` and the job's own variables in expansions."""

from __future__ import annotations

import pytest

from xxci.common.errors import SpecError
from xxci.common.spec import load_pipeline_text
from xxci.common.spec.context import RunContext
from xxci.common.spec.environments import environment_slug, environment_tier
from xxci.common.spec.parser import parse_document
from xxci.common.spec.validate import build_with_notes
from xxci.common.spec.variables import expand_all

from .gitlab_helpers import gl, gl_errors, names


def test_dependencies_of_a_dag_job_are_its_needs_that_pass_artifacts() -> None:
    pipeline = gl(
        """
        one: {script: [touch one], artifacts: {paths: [one]}}
        two: {script: [touch two], artifacts: {paths: [two]}}
        test:
          needs: [{job: one, artifacts: false}, two]
          dependencies: [two, one]
          script: [ls]
        late:
          stage: deploy
          needs: []
          dependencies: [one, two]
          script: [ls]
        """
    )
    assert pipeline.job("test").dependencies == ("two",)
    assert pipeline.job("late").dependencies == ()  # needs: [] starts at once, with nothing


def test_a_dependency_outside_the_needs_is_an_error() -> None:
    errors = gl_errors(
        """
        one: {script: [x]}
        two: {script: [x]}
        test:
          needs: [one]
          dependencies: [one, two, nope]
          script: [x]
        """
    )
    assert errors == [
        ".gitlab-ci.yml:5:23: job 'test' lists 'two' in 'dependencies', which should be"
        " part of its needs",
        ".gitlab-ci.yml:5:28: job 'test' lists unknown job 'nope' in 'dependencies'",
    ]


FILES = {
    "build.gitlab-ci.yml": "build: {stage: build, script: [make]}\n",
    "docs.gitlab-ci.yml": "docs: {script: [make docs]}\n",
    "configs/top.yml": "top: {script: [x]}\n",
    "configs/sub/mid.yml": "mid: {script: [x]}\n",
    "configs/sub/deep/low.yml": "low: {script: [x]}\n",
    "configs/notes.txt": "not yaml\n",
}


@pytest.mark.parametrize(
    ("pattern", "jobs"),
    [
        ("'*.gitlab-ci.yml'", ["build", "docs"]),  # not the including file itself
        ("configs/*.yml", ["top"]),
        ("configs/**.yml", ["top", "mid", "low"]),
        ("configs/**/*.yml", ["mid", "low"]),  # only in folders under configs
        ("/configs/sub/*.yml", ["mid"]),
    ],
)
def test_include_wildcards_match_as_gitlab_matches_them(pattern: str, jobs: list[str]) -> None:
    pipeline = gl(f"include:\n  local: {pattern}\n", files=FILES)
    assert sorted(names(pipeline)) == sorted(jobs)


def test_an_included_file_must_be_yaml_and_a_failed_include_is_the_one_error() -> None:
    assert gl_errors("include: configs/notes.txt\n", files=FILES) == [
        ".gitlab-ci.yml:1:10: included file 'configs/notes.txt' does not have a YAML"
        " extension (.yml or .yaml)"
    ]
    assert gl_errors("include: [{local: missing.yml}]\n") == [
        ".gitlab-ci.yml:1:19: included file 'missing.yml' does not exist in the repository"
    ]


def test_a_repeated_key_keeps_its_last_value_with_a_note() -> None:
    text = 'variables: &foo {FOO: "1"}\nvariables: &bar {BAR: "2"}\njob: {script: [x]}\n'
    pipeline, collector = build_with_notes(parse_document(text, ".gitlab-ci.yml"), RunContext())
    assert pipeline is not None
    assert dict(pipeline.job("job").variables) == {"BAR": "2"}
    assert [str(n) for n in collector.notes] == [
        ".gitlab-ci.yml:2:1: note: duplicate key 'variables' (first defined at line 1);"
        " the last value is used, as GitLab reads the file"
    ]


def test_a_repeated_key_is_still_an_error_in_a_pipelines_file() -> None:
    text = (
        "pipeline: {name: p}\nstages: [build]\nstages: [test]\n"
        "jobs: [{name: a, stage: build, image: alpine, script: [x]}]\n"
    )
    with pytest.raises(SpecError) as info:
        load_pipeline_text(text, "p.yml")
    assert [str(d) for d in info.value.diagnostics] == [
        "p.yml:3:1: duplicate key 'stages' (first defined at line 2)"
    ]


def chained(levels: int) -> str:
    lines = [".s1: [echo test]"]
    lines += [f".s{i}: [!reference [.s{i - 1}]]" for i in range(2, levels)]
    return "\n".join([*lines, f"test: {{script: [!reference [.s{levels - 1}]]}}", ""])


def test_references_may_nest_a_script_ten_lists_deep_not_eleven() -> None:
    assert gl(chained(10)).job("test").script == ("echo test",)
    assert gl_errors(chained(11)) == [
        ".gitlab-ci.yml:11:16: 'script' of job 'test' nests lists more than 10 levels deep"
        " (GitLab's limit)"
    ]


def test_braced_variables_are_not_expressions() -> None:
    assert gl_errors("job: {rules: [{if: '${CI} == \"true\"'}], script: [x]}\n") == [
        ".gitlab-ci.yml:1:20: invalid expression in 'if' of rule 1 of job 'job':"
        " write $VAR, not ${CI}"
    ]


def test_environment_and_the_job_s_own_variables_in_expansions() -> None:
    pipeline = gl(
        """
        review:
          stage: deploy
          environment:
            name: review/$CI_JOB_STAGE/$CI_COMMIT_REF_SLUG
            url: https://$CI_JOB_NAME.example.com
          script: [x]
        prod:
          environment: {name: Production Site, action: prepare, deployment_tier: staging}
          script: [x]
        """,
        branch="feature/x",
    )
    review = pipeline.job("review")
    assert (review.environment, review.environment_url, review.environment_tier) == (
        "review/deploy/feature-x",
        "https://review.example.com",
        "development",
    )
    prod = pipeline.job("prod")
    assert (prod.environment_action, prod.environment_tier) == ("prepare", "staging")


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("dev-domain", "dev-domain"),
        ("Stage Domain", "stage-domain-ip33nk"),
        ("stage-domain-foobar-long-string", "stage-domain-foob-yafktx"),
        ("123", "env-123-7j7izn"),
    ],
)
def test_environment_slugs_as_gitlab_makes_them(name: str, slug: str) -> None:
    assert environment_slug(name) == slug


@pytest.mark.parametrize(
    ("name", "tier"),
    [
        ("production", "production"),
        ("review/fix-1", "development"),
        ("qa", "testing"),
        ("staging", "staging"),
        ("lab", "other"),
    ],
)
def test_environment_tiers_guessed_from_the_name(name: str, tier: str) -> None:
    assert environment_tier(name) == tier


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        # A reference a first pass makes is resolved by the runner's pass, as in GitLab.
        ({"URL_DEV": "u", "ENV": "DEV", "URL": "${URL_${ENV}}"}, "u"),
        ({"DEV_URL": "d", "ENV": "DEV", "URL": "${${ENV}_URL}"}, "d"),
        ({"A": "$$HOME", "URL": "$A and $$A"}, "$HOME and $A"),
        ({"URL": "$URL-x"}, "$URL-x"),
        ({"URL": "$MISSING/x"}, "/x"),
    ],
)
def test_values_expand_in_two_passes_as_gitlab_s(variables: dict[str, str], expected: str) -> None:
    assert expand_all(variables)["URL"] == expected
