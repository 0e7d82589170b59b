"""``extends``, ``!reference`` and ``include: local``."""

from __future__ import annotations

from .gitlab_helpers import gl, gl_errors, names


def test_extends_deep_merges_over_several_levels_and_parents() -> None:
    pipeline = gl(
        """
        .base:
          image: alpine
          variables: {A: base, B: base}
          script: [base]
          tags: [linux]
        .middle:
          extends: .base
          variables: {B: middle, C: middle}
        .other:
          tags: [docker]
        job:
          extends: [.middle, .other]
          variables: {C: job}
        """
    )
    job = pipeline.job("job")
    assert dict(job.variables) == {"A": "base", "B": "middle", "C": "job"}
    assert job.script == ("base",)
    assert job.tags == ("docker",)  # lists are replaced, the last parent wins


def test_extends_problems_at_their_line() -> None:
    errors = gl_errors(
        """
        .a: {extends: .b, script: [x]}
        .b: {extends: .a}
        job: {extends: [.a, .missng], script: [x]}
        .missing: {}
        """
    )
    assert errors == [
        ".gitlab-ci.yml:2:15: circular 'extends': .a -> .b -> .a",
        ".gitlab-ci.yml:3:21: job 'job' extends unknown '.missng' (did you mean '.missing'?)",
    ]


def test_references_in_scalar_list_and_mapping_positions_nested() -> None:
    pipeline = gl(
        """
        .ancient:
          script: [echo Ancient]
        .base:
          script:
            - !reference [.ancient, script]
            - echo Base
        .setup:
          variables: {MYVAR: Yoyo}
          image: alpine:3
        job:
          image: !reference [.setup, image]
          variables:
            MYVAR: !reference [.setup, variables, MYVAR]
          script:
            - !reference [.base, script]
            - echo ${MYVAR}
        """
    )
    job = pipeline.job("job")
    assert job.script == ("echo Ancient", "echo Base", "echo ${MYVAR}")
    assert (job.image, dict(job.variables)) == ("alpine:3", {"MYVAR": "Yoyo"})


def test_references_see_what_extends_merged() -> None:
    pipeline = gl(
        """
        .defaults:
          variables: {FOO: foo}
        .wrapper:
          variables: !reference [.defaults, variables]
        .vars:
          extends: .wrapper
        job:
          variables: !reference [.vars, variables]
          script: [echo $FOO]
        """
    )
    assert dict(pipeline.job("job").variables) == {"FOO": "foo"}


def test_reference_problems() -> None:
    deep = "".join(f".s{i}:\n  - !reference [.s{i - 1}]\n" for i in range(1, 12))
    errors = gl_errors(
        ".s0: [echo]\n"
        + deep
        + "a: {script: [!reference [.nothing, script]], image: !reference [.s0, image]}\n"
        + "b: {script: !reference .s0}\n"
        + "c: {script: [!reference [.s11]]}\n"
    )
    assert errors == [
        ".gitlab-ci.yml:24:14: !reference [.nothing, script]: '.nothing' does not exist",
        ".gitlab-ci.yml:24:53: !reference [.s0, image]: 'image' does not exist",
        ".gitlab-ci.yml:25:13: !reference takes a list of names: [job, key, ...]",
        ".gitlab-ci.yml:26:14: !reference is nested more than 10 levels deep",
    ]


def test_include_local_paths_globs_and_nesting() -> None:
    pipeline = gl(
        """
        include:
          - local: /ci/base.yml
          - 'ci/jobs/*.yml'
        stages: [build, test]
        unit: {extends: .tested, script: [make test]}
        """,
        files={
            "ci/base.yml": """
                include: ci/more.yml
                .tested: {variables: {FROM: base}, image: alpine}
                """,
            "ci/more.yml": "compile: {stage: build, script: [make], image: alpine}\n",
            "ci/jobs/lint.yml": "lint: {script: [lint], image: alpine}\n",
            "ci/jobs/readme.md": "not yaml",
        },
    )
    assert names(pipeline) == ["compile", "lint", "unit"]
    assert dict(pipeline.job("unit").variables) == {"FROM": "base"}


def test_the_including_file_wins_over_what_it_includes() -> None:
    pipeline = gl(
        """
        include: [a.yml]
        job: {variables: {B: main}}
        """,
        files={"a.yml": "job: {script: [x], variables: {A: a, B: a}}\n"},
    )
    assert dict(pipeline.job("job").variables) == {"A": "a", "B": "main"}


def test_include_problems_name_the_include() -> None:
    errors = gl_errors(
        """
        include:
          - remote: https://example.com/ci.yml
          - project: group/other
            file: ci.yml
          - template: Auto-DevOps.gitlab-ci.yml
          - missing.yml
          - bad.yml
        a: {script: [x]}
        """,
        files={"bad.yml": "a: [unclosed\n"},
    )
    assert errors[:4] == [
        ".gitlab-ci.yml:2:5: include 'remote' (https://example.com/ci.yml) is not supported:"
        " xxci only includes files of the repository (include: local)",
        ".gitlab-ci.yml:3:5: include 'project' (group/other) is not supported:"
        " xxci only includes files of the repository (include: local)",
        ".gitlab-ci.yml:5:5: include 'template' (Auto-DevOps.gitlab-ci.yml) is not supported:"
        " xxci only includes files of the repository (include: local)",
        ".gitlab-ci.yml:6:5: included file 'missing.yml' does not exist in the repository",
    ]
    assert errors[4].startswith("bad.yml:2:1: invalid YAML:")


def test_errors_in_an_included_file_name_that_file() -> None:
    errors = gl_errors(
        "include: [ci.yml]\n",
        files={"ci.yml": "job:\n  script: [x]\n  timeout: soon\n"},
    )
    assert errors == [
        "ci.yml:3:12: invalid duration 'soon' for 'timeout' in job 'job';"
        " expected e.g. 90s, 30m, 1h 30m or a number of seconds"
    ]


def test_anchors_and_merge_keys() -> None:
    pipeline = gl(
        """
        .defaults: &defaults
          image: alpine
          variables: &vars {A: "1"}
        job:
          <<: *defaults
          variables:
            <<: *vars
            B: "2"
          script: [x]
        """
    )
    job = pipeline.job("job")
    assert (job.image, dict(job.variables)) == ("alpine", {"B": "2", "A": "1"})
