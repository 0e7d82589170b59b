"""``parallel: N``, ``parallel: matrix`` and the needs on their jobs."""

from __future__ import annotations

from .gitlab_helpers import gl, gl_errors, names

MATRIX = """
build-job:
  stage: build
  script: [echo $NAME]
  parallel:
    matrix:
      - NAME: [foo, bar]
      - NAME: beb
test-job:
  needs: [build-job]
  script: [echo "$NAME $TIER"]
  parallel:
    matrix:
      - NAME: [foo, bar]
        TIER: [dev, pro]
deploy:
  stage: deploy
  needs:
    - job: test-job
      parallel:
        matrix:
          - {NAME: foo, TIER: [dev, pro]}
  script: [x]
shards:
  script: [x]
  parallel: 3
"""


def test_matrix_jobs_are_named_and_numbered_as_in_gitlab() -> None:
    pipeline = gl(MATRIX)
    assert names(pipeline) == [
        "build-job: [foo]",
        "build-job: [bar]",
        "build-job: [beb]",
        "test-job: [foo, dev]",
        "test-job: [foo, pro]",
        "test-job: [bar, dev]",
        "test-job: [bar, pro]",
        "deploy",
        "shards 1/3",
        "shards 2/3",
        "shards 3/3",
    ]
    bar_pro = pipeline.job("test-job: [bar, pro]")
    assert (bar_pro.node_index, bar_pro.node_total, bar_pro.origin) == (4, 4, "test-job")
    assert {k: bar_pro.variables[k] for k in ("NAME", "TIER")} == {"NAME": "bar", "TIER": "pro"}
    assert pipeline.job("shards 2/3").node_index == 2


def test_needs_on_a_parallel_job_take_all_or_the_matrix_named() -> None:
    pipeline = gl(MATRIX)
    assert pipeline.job("test-job: [foo, dev]").needs == (
        "build-job: [foo]",
        "build-job: [bar]",
        "build-job: [beb]",
    )
    assert pipeline.job("deploy").needs == ("test-job: [foo, dev]", "test-job: [foo, pro]")


def test_rules_see_matrix_variables() -> None:
    pipeline = gl(
        """
        deploy:
          script: [x]
          parallel:
            matrix:
              - {PROVIDER: aws, SKIP: "false"}
              - {PROVIDER: ovh, SKIP: "true"}
          rules:
            - if: $SKIP == "false"
        """
    )
    assert names(pipeline) == ["deploy: [aws, false]"]
    assert [e.name for e in pipeline.excluded] == ["deploy: [ovh, true]"]


def test_parallel_problems() -> None:
    assert gl_errors(
        """
        a: {script: [x], parallel: 201}
        b: {script: [x], parallel: {matrix: [{A: [1, 2]}, B]}}
        """
    ) == [
        ".gitlab-ci.yml:1:28: 'parallel' in job 'a' must be between 1 and 200, found 201",
        ".gitlab-ci.yml:2:51: expected a mapping of variables for 'matrix' in 'parallel' of"
        " job 'b', found 'B'",
    ]
    assert gl_errors(
        """
        a: {stage: build, script: [x], parallel: {matrix: [{A: [1, 2]}]}}
        c:
          script: [x]
          needs: [{job: a, parallel: {matrix: [{A: "9"}]}}]
        """
    ) == [".gitlab-ci.yml:4:17: job 'c' needs 'a' with a matrix that matches none of its jobs"]
