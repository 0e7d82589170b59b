"""``rules``, ``only``/``except`` and ``workflow`` decided for a run's context."""

from __future__ import annotations

import pytest

from xxci.common.spec.expressions import ExpressionError, parse
from xxci.common.spec.model import When

from .gitlab_helpers import gl, gl_errors, names

VARS = {"BRANCH": "main", "EMPTY": "", "PATTERN": "/^ma/", "NUM": "42"}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('$BRANCH == "main"', True),
        ("$BRANCH == 'dev'", False),
        ('$BRANCH != "dev"', True),
        ("$BRANCH =~ /^MA/i", True),
        ("$BRANCH !~ /^ma/", False),
        ("$BRANCH =~ $PATTERN", True),
        ("$BRANCH", True),
        ("$EMPTY", False),
        ("$UNSET", False),
        ("$UNSET == null", True),
        ("$EMPTY == null", False),
        ("$UNSET =~ /x/", False),
        ('$BRANCH == "dev" || $NUM == "42" && $BRANCH', True),
        ('($BRANCH == "dev" || $NUM == "42") && $EMPTY', False),
        ("$BRANCH == $BRANCH", True),
        ('"main" == $BRANCH', True),
    ],
)
def test_expressions(expression: str, expected: bool) -> None:
    assert parse(expression).evaluate(VARS) is expected


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("", "the expression is empty"),
        ("$A ==", "the expression ends too early"),
        ("$A == /x/", "a pattern (/x/) may only follow =~ or !~"),
        ("($A", "the expression ends too early"),
        ("$A = 1", "cannot read '= 1'"),
        ("$A =~ /(/", "invalid pattern /(/: missing ), unterminated subpattern at position 0"),
    ],
)
def test_bad_expressions(expression: str, problem: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(expression)
    assert str(info.value) == problem


RULED = """
variables: {DEPLOY: "yes"}
build:
  script: [make]
deploy:
  script: [deploy]
  variables: {TARGET: staging}
  rules:
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH && $DEPLOY == "yes"
      when: manual
      variables: {TARGET: production}
    - if: $CI_COMMIT_BRANCH =~ /^release-/
    - when: never
docs:
  script: [docs]
  rules:
    - changes: [docs/**/*]
    - exists: [mkdocs.yml]
      when: on_success
      allow_failure: true
mr-only:
  script: [x]
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
"""


def test_rules_on_the_default_branch() -> None:
    pipeline = gl(RULED, changed_files=("src/a.py",))
    assert names(pipeline) == ["build", "deploy"]
    deploy = pipeline.job("deploy")
    assert (deploy.when, deploy.blocks_when_manual) == (When.MANUAL, True)
    assert deploy.variables["TARGET"] == "production"
    assert [(e.name, e.reason) for e in pipeline.excluded] == [
        ("docs", "no rule matched"),
        ("mr-only", "no rule matched"),
    ]


def test_rules_on_a_release_branch_with_changed_docs_and_a_file() -> None:
    pipeline = gl(
        RULED,
        branch="release-2",
        changed_files=("docs/guide/intro.md",),
        files={"mkdocs.yml": "site_name: x\n"},
    )
    assert names(pipeline) == ["build", "deploy", "docs"]
    assert pipeline.job("deploy").when is When.ON_SUCCESS
    assert pipeline.job("deploy").variables["TARGET"] == "staging"


def test_exists_holds_without_changes_and_changes_hold_without_a_parent() -> None:
    with_file = gl(RULED, branch="dev", changed_files=(), files={"mkdocs.yml": "x"})
    assert with_file.job("docs").allow_failure.allowed
    no_parent = gl(RULED, branch="dev", changed_files=None)
    assert "docs" in names(no_parent)
    excluded = {e.name: e.reason for e in no_parent.excluded}
    assert excluded["deploy"] == "rule 3 (line 12) says when: never"


def test_a_variable_given_for_the_run_wins() -> None:
    pipeline = gl(RULED, variables={"DEPLOY": "no"})
    assert "deploy" not in names(pipeline)


def test_only_and_except() -> None:
    text = """
    a: {script: [x], only: [main, /^release-.*$/]}
    b: {script: [x], except: [main]}
    c: {script: [x], only: {refs: [branches], variables: [$FLAG == "1"]}}
    d: {script: [x], only: [tags]}
    e: {script: [x], except: {refs: [branches], changes: [src/*]}}
    """
    on_main = gl(text, changed_files=("src/x.py",))
    assert names(on_main) == ["a"]
    assert {e.name: e.reason for e in on_main.excluded} == {
        "b": "except (line 2): refs match",
        "c": "only (line 3): no variables condition holds",
        "d": "only (line 4): no refs condition holds",
        "e": "except (line 5): refs, changes match",
    }
    on_release = gl(text, branch="release-1", variables={"FLAG": "1"}, changed_files=())
    assert names(on_release) == ["a", "b", "c", "e"]


def test_workflow_rules_can_stop_the_pipeline_or_set_variables() -> None:
    text = """
    workflow:
      rules:
        - if: $CI_COMMIT_TAG
          when: never
        - if: $CI_PIPELINE_SOURCE == "push"
          variables: {MODE: push}
    a: {script: [x], rules: [{if: $MODE == "push"}]}
    """
    pushed = gl(text)
    assert (pushed.not_run, names(pushed)) == ("", ["a"])
    assert gl(text, tag="v1", branch="").not_run == "workflow: rule 1 (line 3) says when: never"
    assert gl(text, source="web").not_run == "workflow: no rule matched"


def test_needs_on_a_job_left_out_unless_optional() -> None:
    text = """
    build: {script: [x], rules: [{if: $CI_COMMIT_TAG}]}
    test: {script: [x], needs: [build]}
    other: {script: [x], needs: [{job: build, optional: true}]}
    """
    assert gl_errors(text) == [
        ".gitlab-ci.yml:2:29: job 'test' needs 'build', which is not in the run (its rules,"
        " only or except leave it out); use needs:optional for a job that is not always there"
    ]
    pipeline = gl(text, tag="v1", branch="")
    assert pipeline.job("other").needs == ("build",)


def test_rules_that_are_wrong_are_reported_whatever_the_branch() -> None:
    errors = gl_errors(
        """
        a:
          script: [x]
          rules:
            - if: $X == = "y"
            - when: sometimes
            - changes: {paths: [a], compare_to: main}
        b: {script: [x], rules: [{if: $X}], only: [main]}
        """
    )
    assert errors == [
        ".gitlab-ci.yml:4:11: invalid expression in 'if' of rule 1 of job 'a':"
        " cannot read '= \"y\"'",
        ".gitlab-ci.yml:5:13: invalid 'when' 'sometimes' in rule 2 of job 'a'; expected"
        " on_success, on_failure, always, manual, delayed, never",
        ".gitlab-ci.yml:6:29: 'compare_to' in 'changes' of rule 3 of job 'a' cannot be run"
        " by xxci: only the commit's parent is compared",
        ".gitlab-ci.yml:7:37: 'only' cannot be used with 'rules' in job 'b'",
    ]


def test_dependencies_choose_the_artifacts() -> None:
    pipeline = gl(
        """
        a: {stage: build, script: [x]}
        b: {stage: build, script: [x]}
        c: {script: [x], dependencies: [a]}
        d: {script: [x], needs: [{job: a, artifacts: false}, b]}
        e: {script: [x]}
        f: {stage: build, script: [x], dependencies: [c]}
        """.replace("f: {stage: build, script: [x], dependencies: [c]}\n", "")
    )
    assert pipeline.job("c").dependencies == ("a",)
    assert (pipeline.job("d").needs, pipeline.job("d").dependencies) == (("a", "b"), ("b",))
    assert pipeline.job("d").dag
    assert pipeline.job("e").dependencies is None
    assert gl_errors("a: {script: [x]}\nb: {script: [x], dependencies: [a]}\n") == [
        ".gitlab-ci.yml:2:33: job 'b' lists 'a' in 'dependencies', which is not in an"
        " earlier stage or in its needs"
    ]
