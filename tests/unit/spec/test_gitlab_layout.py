"""A ``.gitlab-ci.yml`` as GitLab reads it: jobs at the top level, globals, stages."""

from __future__ import annotations

from xxci.common.spec.model import When

from .gitlab_helpers import gl, gl_errors, names


def test_jobs_at_the_top_level_with_gitlab_default_stages() -> None:
    pipeline = gl(
        """
        image: alpine:3
        variables: {GREETING: hello}
        before_script: [echo before]
        .hidden: {script: [never runs]}
        lint:
          stage: .pre
          script: [lint]
        compile:
          stage: build
          script: make
        unit:
          script: [make test]
        publish:
          stage: .post
          script: [publish]
        """
    )
    assert pipeline.kind == "gitlab"
    assert pipeline.name == "gitlab-ci"
    assert pipeline.stages == (".pre", "build", "test", ".post")
    assert names(pipeline) == ["lint", "compile", "unit", "publish"]
    unit = pipeline.job("unit")
    assert unit.stage == "test"
    assert unit.image == "alpine:3"
    assert unit.before_script == ("echo before",)
    assert unit.commands == ("echo before", "make test")
    assert dict(unit.variables) == {"GREETING": "hello"}


def test_default_wins_over_the_old_globals_and_a_job_over_both() -> None:
    pipeline = gl(
        """
        image: old:1
        default:
          image: new:1
          after_script: [echo bye]
          timeout: 10m
        a: {script: [x]}
        b: {script: [x], image: own:1, after_script: []}
        """
    )
    a, b = pipeline.job("a"), pipeline.job("b")
    assert (a.image, a.after_script, a.timeout_seconds) == ("new:1", ("echo bye",), 600)
    assert (b.image, b.after_script) == ("own:1", ())


def test_inherit_limits_what_a_job_takes() -> None:
    pipeline = gl(
        """
        variables: {A: "1", B: "2"}
        default: {image: alpine, before_script: [echo hi]}
        a:
          inherit: {default: false, variables: [B]}
          image: busybox
          script: [x]
        """
    )
    a = pipeline.job("a")
    assert (a.before_script, dict(a.variables)) == ((), {"B": "2"})


def test_stages_get_pre_and_post_and_may_be_empty() -> None:
    pipeline = gl(
        """
        stages: [build, test, deploy, cleanup]
        compile: {stage: build, script: [make]}
        """
    )
    assert pipeline.stages == ("build",)
    errors = gl_errors(
        """
        stages: [build, .pre]
        compile: {stage: build, script: [make]}
        """
    )
    assert errors == [".gitlab-ci.yml:1:17: stage '.pre' must be the first stage"]


def test_a_job_without_stage_needs_a_test_stage() -> None:
    assert gl_errors("stages: [build]\nunit: {script: [x]}\n") == [
        ".gitlab-ci.yml:2:1: job 'unit' has no 'stage' and there is no stage 'test' to"
        " default to (stages: .pre, build, .post)"
    ]


def test_workflow_name_names_the_pipeline() -> None:
    pipeline = gl(
        """
        workflow:
          name: 'Build $CI_COMMIT_BRANCH!'
        a: {script: [x]}
        """,
        branch="feature/x",
    )
    assert pipeline.name == "Build-feature-x"


def test_what_xxci_cannot_run_is_an_error_at_its_line() -> None:
    errors = gl_errors(
        """
        deploy:
          script: [x]
          secrets:
            TOKEN: {vault: a/b@c}
          id_tokens:
            ID: {aud: x}
        child:
          trigger: {include: child.yml}
        """
    )
    assert errors == [
        ".gitlab-ci.yml:3:3: 'secrets' in job 'deploy' cannot be run by xxci: it reads an"
        " external secret store (Vault, Azure, GCP); xxci's secrets are a list of names"
        " from 'xxci secret set'",
        ".gitlab-ci.yml:5:3: 'id_tokens' in job 'deploy' cannot be run by xxci: it needs"
        " GitLab to sign OIDC tokens",
        ".gitlab-ci.yml:8:3: 'trigger' in job 'child' cannot be run by xxci: it starts a"
        " pipeline in GitLab (a child or another project's)",
    ]


def test_variables_belong_at_the_top_level_not_in_default() -> None:
    assert gl_errors("default: {variables: {A: 1}}\na: {script: [x]}\n") == [
        ".gitlab-ci.yml:1:11: 'variables' cannot be set in 'default' of a .gitlab-ci.yml;"
        " set them at the top level"
    ]


def test_a_top_level_value_that_is_no_job() -> None:
    assert gl_errors("a: {script: [x]}\nnotajob: 3\n") == [
        ".gitlab-ci.yml:2:10: top-level key 'notajob' is neither a keyword nor a job"
        " (a mapping with 'script'), found an integer (3)"
    ]


def test_unknown_tags_are_reported_not_dropped() -> None:
    assert gl_errors("a:\n  script: !shell [x]\n  variables: !env {A: 1}\n") == [
        ".gitlab-ci.yml:2:11: unknown YAML tag !shell; only !reference is supported",
        ".gitlab-ci.yml:3:14: unknown YAML tag !env; only !reference is supported",
    ]


def test_images_are_expanded_then_checked() -> None:
    pipeline = gl(
        """
        variables: {REG: registry.example.com:5000, TAG: "3.12"}
        a:
          image: {name: "$REG/python:$TAG", entrypoint: [""]}
          script: [x]
        """
    )
    assert pipeline.job("a").image == "registry.example.com:5000/python:3.12"
    assert pipeline.job("a").entrypoint == ("",)
    errors = gl_errors(
        """
        a: {image: "Maven:3", script: [x]}
        b: {image: $UNSET, script: [x]}
        """
    )
    assert errors == [
        ".gitlab-ci.yml:1:12: invalid image reference 'Maven:3' in job 'a';"
        " expected [registry/]name[:tag][@digest] in lowercase",
        ".gitlab-ci.yml:2:12: image '$UNSET' in job 'b' expands to nothing"
        " (its variables are not defined)",
    ]


def test_a_job_without_any_image_runs_in_the_worker_default() -> None:
    assert gl("a: {script: [x]}\n").job("a").image == ""


def test_when_and_manual_allow_failure_defaults() -> None:
    pipeline = gl(
        """
        manual: {script: [x], when: manual}
        blocking: {script: [x], when: manual, allow_failure: false}
        ruled:
          script: [x]
          rules: [{when: manual}]
        later: {script: [x], when: delayed, start_in: 30 minutes}
        cleanup: {script: [x], when: always}
        """
    )
    assert pipeline.job("manual").when is When.MANUAL
    assert not pipeline.job("manual").blocks_when_manual
    assert pipeline.job("blocking").blocks_when_manual
    assert pipeline.job("ruled").blocks_when_manual
    assert (pipeline.job("later").when, pipeline.job("later").start_in_seconds) == (
        When.DELAYED,
        1800,
    )
    assert pipeline.job("cleanup").when is When.ALWAYS


def test_retry_when_maps_onto_failure_reasons() -> None:
    job = gl(
        "a:\n  script: [x]\n  retry: {max: 2, when: [runner_system_failure,"
        " stuck_or_timeout_failure], exit_codes: 137}\n"
    ).job("a")
    assert (job.retry, job.retry_on, job.retry_exit_codes) == (
        2,
        ("system_failure", "timeout"),
        (137,),
    )


def test_services_and_cache_are_read_and_inherited() -> None:
    pipeline = gl(
        """
        services: [postgres:15]
        cache: {key: $CI_COMMIT_REF_SLUG, paths: [.npm/]}
        a: {script: [x]}
        b:
          script: [x]
          services:
            - name: registry.example.com/group/redis:7
              alias: cache,kv
              variables: {MODE: fast}
          cache: []
        """
    )
    a, b = pipeline.job("a"), pipeline.job("b")
    assert [(s.name, s.aliases) for s in a.services] == [("postgres:15", ("postgres",))]
    assert [(c.key, c.paths, c.policy.value) for c in a.caches] == [
        ("$CI_COMMIT_REF_SLUG", (".npm/",), "pull-push")
    ]
    assert b.caches == ()
    assert b.services[0].aliases == (
        "registry.example.com__group__redis",
        "registry.example.com-group-redis",
        "cache",
        "kv",
    )
    assert dict(b.services[0].variables) == {"MODE": "fast"}
