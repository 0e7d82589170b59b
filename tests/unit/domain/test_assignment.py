"""What a worker is told to run: the job resolved, and the blobs it must fetch."""

from __future__ import annotations

import dataclasses

from xxci.common.attempts import AttemptKey
from xxci.common.events import JobFinished
from xxci.common.spec.model import Artifacts, ArtifactWhen
from xxci.orchestrator.domain.assignment import artifacts_name, assignment

from .harness import Scenario, job, pipeline


def built(name: str, blob: str) -> JobFinished:
    return JobFinished(job=name, attempt=1, status="SUCCESS", exit_code=0, artifacts_blob=blob)


def test_an_assignment_carries_the_source_and_the_artifacts_of_earlier_stages() -> None:
    pack = dataclasses.replace(
        job("pack", "test", timeout=90),
        variables={"MODE": "fast"},
        artifacts=Artifacts(paths=("dist/",), when=ArtifactWhen.ALWAYS),
    )
    s = Scenario(
        pipeline(job("lib", "build"), job("app", "build"), pack, stages=["build", "test"]),
        source_blob="sha256:src",
    )
    for name in ("lib", "app"):
        s.start(name)
        s.record(built(name, f"sha256:{name}"))

    command = assignment(s.state, "pack", 1)

    assert command.key == AttemptKey("r1", "pack", 1)
    assert (command.stage, command.image, command.script) == ("test", "alpine:3", ("true",))
    assert command.timeout_seconds == 90
    assert command.source_blob == "sha256:src"
    assert command.artifact_blobs == ("sha256:lib", "sha256:app")  # in stage order
    assert (command.artifact_paths, command.artifact_when) == (("dist/",), ArtifactWhen.ALWAYS)
    assert command.variables["MODE"] == "fast"
    assert {k: command.variables[k] for k in ("CI_JOB_NAME", "CI_JOB_ATTEMPT", "CI_RUN_ID")} == {
        "CI_JOB_NAME": "pack",
        "CI_JOB_ATTEMPT": "1",
        "CI_RUN_ID": "r1",
    }


def test_with_needs_only_the_needed_artifacts_come() -> None:
    s = Scenario(
        pipeline(
            job("lib", "build"),
            job("app", "build"),
            job("check", "test", needs=["app"]),
            stages=["build", "test"],
        )
    )
    for name in ("lib", "app"):
        s.start(name)
        s.record(built(name, f"sha256:{name}"))

    command = assignment(s.state, "check", 1)

    assert command.artifact_blobs == ("sha256:app",)
    assert command.source_blob == ""
    assert (command.artifact_paths, command.artifact_when) == ((), ArtifactWhen.ON_SUCCESS)


def test_a_deployment_job_sees_its_environment_as_gitlab_names_it() -> None:
    deploy = dataclasses.replace(
        job("deploy", "deploy"),
        environment="Stage Domain",
        environment_url="https://stage.example.com",
        environment_action="stop",
        environment_tier="staging",
    )
    s = Scenario(pipeline(job("plain"), deploy, stages=["test", "deploy"]))
    variables = assignment(s.state, "deploy", 1).variables
    assert {k: v for k, v in variables.items() if k.startswith("CI_ENVIRONMENT_")} == {
        "CI_ENVIRONMENT_NAME": "Stage Domain",
        "CI_ENVIRONMENT_SLUG": "stage-domain-ip33nk",
        "CI_ENVIRONMENT_URL": "https://stage.example.com",
        "CI_ENVIRONMENT_ACTION": "stop",
        "CI_ENVIRONMENT_TIER": "staging",
    }
    plain = assignment(s.state, "plain", 1).variables
    assert not [k for k in plain if k.startswith("CI_ENVIRONMENT_")]


def test_artifacts_and_the_image_entrypoint_as_gitlab_runs_them() -> None:
    art = Artifacts(
        paths=("out/$TARGET/",),
        exclude=("out/$TARGET/*.o",),
        untracked=True,
        name="$CI_JOB_NAME-$TARGET",
    )
    pack = dataclasses.replace(job("pack"), artifacts=art, variables={"TARGET": "arm"})
    plain = job("plain")
    s = Scenario(pipeline(pack, plain))
    got = assignment(s.state, "pack", 1)
    assert (got.artifact_paths, got.artifact_exclude, got.artifact_untracked) == (
        ("out/arm/",),
        ("out/arm/*.o",),
        True,
    )
    assert artifacts_name(s.state, "pack", 1) == "pack-arm"
    assert artifacts_name(s.state, "plain", 1) == "artifacts"
    # A course-format job runs its script as the entrypoint; a GitLab job the image's
    # own entrypoint unless it names one.
    assert (got.entrypoint, got.image_entrypoint) == ((), False)
    gitlab = dataclasses.replace(s.state.pipeline, kind="gitlab")
    named = dataclasses.replace(plain, entrypoint=("",))
    s = Scenario(dataclasses.replace(gitlab, jobs=(pack, named)))
    assert assignment(s.state, "pack", 1).image_entrypoint
    got = assignment(s.state, "plain", 1)
    assert (got.entrypoint, got.image_entrypoint) == (("",), False)


def test_an_assignment_names_the_secrets_and_masks_masked_variables() -> None:
    from xxci.common.job_extras import GivenSecret
    from xxci.common.spec.secret_requests import SecretRequest, SecretType
    from xxci.common.spec.services_cache import Cache, Service

    deploy = dataclasses.replace(
        job("deploy", "build"),
        variables={"API_KEY": "abcd1234", "SHORT": "ab", "PLAIN": "visible"},
        secrets=(SecretRequest("kube", "KUBECONFIG", SecretType.FILE),),
        services=(Service("redis:7", ("redis",)),),
        caches=(Cache(key="deps", paths=("vendor/",)),),
    )
    base = pipeline(deploy, stages=["build"])
    s = Scenario(dataclasses.replace(base, masked_variables=("API_KEY", "SHORT")))

    command = assignment(s.state, "deploy", 1)

    assert command.secrets == (GivenSecret("kube", "KUBECONFIG", file=True, missing=True),)
    assert command.masked_values == ("abcd1234",)  # "ab" is too short to mask
    assert command.services == deploy.services
    assert (command.caches, command.cache_scope) == (deploy.caches, base.name)
