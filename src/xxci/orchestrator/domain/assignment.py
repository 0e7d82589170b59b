"""What a worker is told to run: one attempt of one job, fully resolved. Pure."""

from __future__ import annotations

from xxci.common.attempts import AttemptKey
from xxci.common.job_extras import GivenSecret
from xxci.common.spec.context import slug
from xxci.common.spec.environments import environment_slug
from xxci.common.spec.model import Artifacts, When
from xxci.common.spec.secret_requests import SecretType
from xxci.common.spec.variables import expand, expand_all
from xxci.orchestrator.domain.limits import Limits
from xxci.orchestrator.domain.messages import Assign
from xxci.orchestrator.domain.state import RunState

__all__ = [
    "MIN_MASKED_LENGTH",
    "artifact_sources",
    "artifacts_name",
    "assignment",
    "cache_scope",
    "job_environment",
    "predefined_variables",
]

MIN_MASKED_LENGTH = 4
"""Shorter values are not masked: masking every "ab" would garble the log."""


def cache_scope(state: RunState) -> str:
    """Where a run's caches live: its pipeline's (other pipelines never see them)."""
    return state.pipeline.name


def predefined_variables(state: RunState, job: str, attempt: int) -> dict[str, str]:
    """The ``CI_*`` variables every job sees (GitLab's names where they overlap): the
    run's context (``CI_COMMIT_REF_NAME``, ``CI_PIPELINE_SOURCE``, ...) and the job's."""
    spec = state.pipeline.job(job)
    js = state.jobs.get(job)
    values = {
        **state.pipeline.context_variables,
        "CI": "true",
        "XXCI": "true",
        "CI_PIPELINE_NAME": state.pipeline.name,
        "CI_PIPELINE_ID": str(state.number),
        "CI_PIPELINE_IID": str(state.number),
        "CI_RUN_ID": state.run_id,
        "CI_RUN_NUMBER": str(state.number),
        "CI_JOB_NAME": job,
        "CI_JOB_NAME_SLUG": slug(job),
        "CI_JOB_STAGE": spec.stage,
        "CI_JOB_ID": str(js.queued_seq if js is not None and js.queued_seq else attempt),
        "CI_JOB_ATTEMPT": str(attempt),
        "CI_JOB_STATUS": "running",  # after_script sees success or failed
        "CI_COMMIT_SHA": state.commit,
        "CI_REPOSITORY": state.repo,
        "CI_PROJECT_DIR": "/workspace",
    }
    if state.branch and "CI_COMMIT_TAG" not in values:
        values["CI_COMMIT_BRANCH"] = state.branch
    if spec.node_total:
        values["CI_NODE_INDEX"] = str(spec.node_index)
        values["CI_NODE_TOTAL"] = str(spec.node_total)
    if spec.when is When.MANUAL:
        values["CI_JOB_MANUAL"] = "true"
    if spec.environment:
        values["CI_ENVIRONMENT_NAME"] = spec.environment
        values["CI_ENVIRONMENT_SLUG"] = environment_slug(spec.environment)
        values["CI_ENVIRONMENT_ACTION"] = spec.environment_action or "start"
        values["CI_ENVIRONMENT_TIER"] = spec.environment_tier or "other"
        if spec.environment_url:
            values["CI_ENVIRONMENT_URL"] = spec.environment_url
    return values


def job_environment(state: RunState, job: str, attempt: int) -> dict[str, str]:
    """The job's variables over the predefined ones (a job may set a ``CI_*`` of its
    own, as in GitLab), every ``$VAR`` in a value expanded as a runner expands it."""
    spec = state.pipeline.job(job)
    return expand_all({**predefined_variables(state, job, attempt), **spec.variables})


def artifacts_name(state: RunState, job: str, attempt: int) -> str:
    """The name of the job's artifacts archive (``artifacts: name``, expanded as GitLab
    does; GitLab's default: ``artifacts``)."""
    artifacts = state.pipeline.job(job).artifacts
    name = artifacts.name if artifacts is not None else ""
    return expand(name, job_environment(state, job, attempt)).strip() or "artifacts"


def artifact_sources(state: RunState, job: str) -> list[str]:
    """Blobs of the artifacts a job receives, oldest first: those of its
    ``dependencies`` when the pipeline resolved them, else those of its ``needs`` if it
    names any, else those of every job in earlier stages (as GitLab does)."""
    spec = state.pipeline.job(job)
    if spec.dependencies is not None:
        names = list(spec.dependencies)
    elif spec.needs:
        names = list(spec.needs)
    else:
        earlier = state.pipeline.stages[: state.pipeline.stages.index(spec.stage)]
        names = [j.name for stage in earlier for j in state.pipeline.jobs_in_stage(stage)]
    blobs = []
    for name in names:
        js = state.jobs.get(name)
        if js is not None and js.artifacts_blob:
            blobs.append(js.artifacts_blob)
    return blobs


def assignment(state: RunState, job: str, attempt: int, limits: Limits | None = None) -> Assign:
    """The command that hands attempt ``attempt`` of ``job`` to a worker, within
    ``limits`` (its output and artifact sizes; None: the worker's own)."""
    spec = state.pipeline.job(job)
    variables = job_environment(state, job, attempt)
    artifacts = spec.artifacts or Artifacts()
    return Assign(
        key=AttemptKey(state.run_id, job, attempt),
        stage=spec.stage,
        image=spec.image,
        script=tuple(spec.commands),
        variables=variables,
        timeout_seconds=float(spec.timeout_seconds),
        source_blob=state.source_blob,
        artifact_blobs=tuple(artifact_sources(state, job)),
        artifact_paths=tuple(expand(p, variables) for p in artifacts.paths),
        artifact_when=artifacts.when,
        after_script=tuple(spec.after_script),
        entrypoint=tuple(spec.entrypoint or ()),
        image_entrypoint=spec.entrypoint is None and state.pipeline.kind == "gitlab",
        prefer_bash=state.pipeline.kind == "gitlab",
        artifact_exclude=tuple(expand(p, variables) for p in artifacts.exclude),
        artifact_untracked=artifacts.untracked,
        output_limit=limits.output_bytes if limits else 0,
        artifact_limit=limits.artifact_bytes if limits else 0,
        services=spec.services,
        caches=spec.caches,
        cache_scope=cache_scope(state),
        secrets=tuple(
            GivenSecret(s.name, s.variable, file=s.type is SecretType.FILE, missing=True)
            for s in spec.secrets
        ),
        masked_values=tuple(
            sorted(
                {
                    value
                    for name, value in variables.items()
                    if name in state.pipeline.masked_variables and len(value) >= MIN_MASKED_LENGTH
                }
            )
        ),
    )
