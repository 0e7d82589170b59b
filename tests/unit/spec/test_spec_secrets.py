"""Asking for secrets (``secrets:``) and masking variables (``masked: true``)."""

from __future__ import annotations

from tests.unit.spec.gitlab_helpers import gl, gl_errors
from tests.unit.spec.helpers import errors, load, with_jobs
from xxci.common.spec.secret_requests import SecretRequest, SecretType


def test_a_job_asks_for_secrets_by_name_or_with_a_variable_and_type() -> None:
    pipeline = load(
        with_jobs(
            """
            - name: deploy
              stage: build
              script: [x]
              secrets:
                - DEPLOY_TOKEN
                - {name: kube, variable: KUBECONFIG, type: file}
            """,
            stages="[build]",
        )
    )
    assert pipeline.job("deploy").secrets == (
        SecretRequest("DEPLOY_TOKEN", "DEPLOY_TOKEN"),
        SecretRequest("kube", "KUBECONFIG", SecretType.FILE),
    )


def test_default_secrets_are_inherited_and_a_job_may_replace_them() -> None:
    pipeline = gl(
        """
        default:
          secrets: [TOKEN]
        a: {script: [x]}
        b: {script: [x], secrets: []}
        """
    )
    assert pipeline.job("a").secrets == (SecretRequest("TOKEN", "TOKEN"),)
    assert pipeline.job("b").secrets == ()


def test_wrong_secret_entries_are_errors_at_their_line() -> None:
    assert errors(
        with_jobs(
            """
            - name: deploy
              stage: build
              script: [x]
              secrets:
                - 1TOKEN
                - {name: A, type: env}
                - {variable: B}
                - {name: C, variable: X}
                - {name: D, variable: X}
            """,
            stages="[build]",
        )
    ) == [
        "p.yml:11:7: 'secrets' of job 'deploy' gives variable 'X' twice",
        "p.yml:11:9: invalid secret name '1TOKEN' in job 'deploy': letters, digits and _,"
        " not first a digit",
        "p.yml:12:25: invalid 'type' 'env' in a secret of job 'deploy'; expected variable or file",
        "p.yml:13:9: missing required key 'name' in a secret of job 'deploy'",
    ]


def test_gitlabs_vault_secrets_stay_refused_with_what_xxci_reads_instead() -> None:
    assert gl_errors("deploy:\n  script: [x]\n  secrets:\n    T: {vault: a/b@c}\n") == [
        ".gitlab-ci.yml:3:3: 'secrets' in job 'deploy' cannot be run by xxci: it reads an"
        " external secret store (Vault, Azure, GCP); xxci's secrets are a list of names"
        " from 'xxci secret set'"
    ]


def test_masked_variables_are_named_wherever_they_are_declared() -> None:
    pipeline = gl(
        """
        variables:
          API_KEY: {value: abcd1234, masked: true}
          PLAIN: visible
        build:
          script: [x]
          variables:
            PASS: {value: "hunter22", masked: true, description: db}
        """
    )
    assert pipeline.masked_variables == ("API_KEY", "PASS")
    assert pipeline.job("build").variables["PASS"] == "hunter22"


def test_masked_must_be_a_boolean() -> None:
    assert gl_errors("variables:\n  A: {value: x, masked: yes please}\nb: {script: [x]}\n") == [
        ".gitlab-ci.yml:2:25: expected true or false for 'masked' in variable 'A',"
        " found 'yes please'"
    ]
