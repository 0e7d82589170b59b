"""The resolved pipeline: what a validated pipeline file means.

These types are what every other part of xxci works with. The loader turns a file
into them (defaults already merged into each job); ``to_dict``/``from_dict`` give the
stable JSON form that ``RunCreated`` events carry, so a run keeps the exact spec it
was started with even after the file changes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xxci.common.spec.secret_requests import SecretRequest
from xxci.common.spec.services_cache import Cache, Service

DEFAULT_STAGES: tuple[str, ...] = ("build", "test", "doc", "deploy")
GITLAB_STAGES: tuple[str, ...] = (".pre", "build", "test", "deploy", ".post")
DEFAULT_TIMEOUT_SECONDS = 3600
AFTER_SCRIPT_TIMEOUT_SECONDS = 300
"""An ``after_script``'s own time bound, as GitLab's: after the script, a timeout or a
cancel."""


class When(enum.StrEnum):
    """When a job runs, given how the jobs before it ended (GitLab's ``when``)."""

    ON_SUCCESS = "on_success"
    ON_FAILURE = "on_failure"
    ALWAYS = "always"
    MANUAL = "manual"
    DELAYED = "delayed"


class ArtifactWhen(enum.StrEnum):
    """When a job's artifacts are collected."""

    ON_SUCCESS = "on_success"
    ON_FAILURE = "on_failure"
    ALWAYS = "always"


@dataclass(frozen=True)
class AllowFailure:
    """Whether a failed job may fail without failing its stage.

    ``allowed`` with no ``exit_codes`` allows any failure; with ``exit_codes`` only a
    script failure with one of those codes is allowed.
    """

    allowed: bool = False
    exit_codes: tuple[int, ...] = ()

    def permits(self, exit_code: int | None) -> bool:
        if not self.allowed:
            return False
        if not self.exit_codes:
            return True
        return exit_code is not None and exit_code in self.exit_codes

    def permits_failure(self, reason: str, exit_code: int | None) -> bool:
        """Whether a failure with ``reason`` (a FailureReason value) is allowed. With
        ``exit_codes`` only script failures with one of them are; a cancel never is."""
        if not self.allowed or reason == "canceled":
            return False
        if self.exit_codes:
            return reason == "script_failure" and exit_code in self.exit_codes
        return True

    def to_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "exit_codes": list(self.exit_codes)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AllowFailure:
        return cls(
            allowed=bool(data.get("allowed", False)),
            exit_codes=tuple(int(c) for c in data.get("exit_codes", ())),
        )


@dataclass(frozen=True)
class Artifacts:
    """Paths (globs, relative to /workspace) collected from a finished job.

    ``exclude`` takes paths back out, ``untracked`` adds every file that is not in the
    source tree. ``name``, ``expire_in`` and ``reports`` are kept as written (shown by
    ``dry-run``; xxci keeps artifacts as long as the run).
    """

    paths: tuple[str, ...] = ()
    when: ArtifactWhen = ArtifactWhen.ON_SUCCESS
    exclude: tuple[str, ...] = ()
    untracked: bool = False
    name: str = ""
    expire_in: str = ""
    reports: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "paths": list(self.paths),
            "when": self.when.value,
            "exclude": list(self.exclude),
            "untracked": self.untracked,
            "name": self.name,
            "expire_in": self.expire_in,
            "reports": {k: list(v) for k, v in self.reports.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Artifacts:
        return cls(
            paths=tuple(str(p) for p in data.get("paths", ())),
            when=ArtifactWhen(data.get("when", ArtifactWhen.ON_SUCCESS.value)),
            exclude=tuple(str(p) for p in data.get("exclude", ())),
            untracked=bool(data.get("untracked", False)),
            name=str(data.get("name", "")),
            expire_in=str(data.get("expire_in", "")),
            reports={
                str(k): tuple(str(p) for p in v) for k, v in (data.get("reports") or {}).items()
            },
        )


@dataclass(frozen=True)
class Job:
    """One job, with the ``default:`` section already merged in."""

    name: str
    stage: str
    image: str
    script: tuple[str, ...]
    needs: tuple[str, ...] = ()
    allow_failure: AllowFailure = AllowFailure()
    artifacts: Artifacts | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    retry: int = 0
    tags: tuple[str, ...] = ()
    """Worker labels a worker must carry to run this job."""
    before_script: tuple[str, ...] = ()
    after_script: tuple[str, ...] = ()
    """Runs in a shell of its own after the script, whatever its result."""
    when: When = When.ON_SUCCESS
    start_in_seconds: int = 0
    """How long a ``delayed`` job waits once it could start."""
    dag: bool = False
    """Starts as soon as its ``needs`` are done, whatever its stage (a GitLab job that
    declares ``needs``); otherwise it waits for the stages before its own."""
    dependencies: tuple[str, ...] | None = None
    """The jobs whose artifacts it receives; None: its needs, else every earlier stage."""
    origin: str = ""
    """The job as written, for one expanded by ``parallel`` (``test`` of ``test 1/3``)."""
    node_index: int = 0
    node_total: int = 0
    """CI_NODE_INDEX / CI_NODE_TOTAL of a ``parallel`` job (0 otherwise)."""
    entrypoint: tuple[str, ...] | None = None
    """The image's entrypoint replaced (``image: {entrypoint: [...]}``); None keeps it."""
    retry_on: tuple[str, ...] = ()
    """Failure reasons ``retry`` retries (FailureReason values); () for the usual ones."""
    retry_exit_codes: tuple[int, ...] = ()
    coverage: str = ""
    """A /regex/ whose first match in the log is the job's coverage figure."""
    resource_group: str = ""
    """At most one job of a group runs at a time, across every run."""
    interruptible: bool = False
    environment: str = ""
    environment_url: str = ""
    environment_action: str = ""
    environment_tier: str = ""
    """The ``environment`` a deployment job names (expanded): xxci sets its
    ``CI_ENVIRONMENT_*`` variables and keeps no deployments."""
    release: str = ""
    services: tuple[Service, ...] = ()
    caches: tuple[Cache, ...] = ()
    secrets: tuple[SecretRequest, ...] = ()
    """Secrets from the store the job is given (names only: values come at run time)."""

    @property
    def commands(self) -> tuple[str, ...]:
        """What runs in the job's one shell, in order: ``before_script``, then ``script``."""
        return (*self.before_script, *self.script)

    @property
    def blocks_when_manual(self) -> bool:
        """A manual job left unplayed holds back what comes after it."""
        return self.when is When.MANUAL and not self.allow_failure.allowed

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "stage": self.stage,
            "image": self.image,
            "script": list(self.script),
            "needs": list(self.needs),
            "allow_failure": self.allow_failure.to_dict(),
            "artifacts": self.artifacts.to_dict() if self.artifacts else None,
            "variables": dict(self.variables),
            "timeout_seconds": self.timeout_seconds,
            "retry": self.retry,
            "tags": list(self.tags),
            "before_script": list(self.before_script),
            "after_script": list(self.after_script),
            "when": self.when.value,
            "start_in_seconds": self.start_in_seconds,
            "dag": self.dag,
            "dependencies": None if self.dependencies is None else list(self.dependencies),
            "origin": self.origin,
            "node_index": self.node_index,
            "node_total": self.node_total,
            "entrypoint": None if self.entrypoint is None else list(self.entrypoint),
            "retry_on": list(self.retry_on),
            "retry_exit_codes": list(self.retry_exit_codes),
            "coverage": self.coverage,
            "resource_group": self.resource_group,
            "interruptible": self.interruptible,
            "environment": self.environment,
            "environment_url": self.environment_url,
            "environment_action": self.environment_action,
            "environment_tier": self.environment_tier,
            "release": self.release,
            "services": [s.to_dict() for s in self.services],
            "caches": [c.to_dict() for c in self.caches],
            "secrets": [s.to_dict() for s in self.secrets],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        artifacts = data.get("artifacts")
        return cls(
            name=str(data["name"]),
            stage=str(data["stage"]),
            image=str(data["image"]),
            script=tuple(str(s) for s in data.get("script", ())),
            needs=tuple(str(n) for n in data.get("needs", ())),
            allow_failure=AllowFailure.from_dict(data.get("allow_failure") or {}),
            artifacts=Artifacts.from_dict(artifacts) if artifacts else None,
            variables={str(k): str(v) for k, v in (data.get("variables") or {}).items()},
            timeout_seconds=int(data.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)),
            retry=int(data.get("retry", 0)),
            tags=tuple(str(t) for t in data.get("tags", ())),
            before_script=_strings(data.get("before_script")),
            after_script=_strings(data.get("after_script")),
            when=When(data.get("when", When.ON_SUCCESS.value)),
            start_in_seconds=int(data.get("start_in_seconds", 0)),
            dag=bool(data.get("dag", False)),
            dependencies=_optional_strings(data.get("dependencies")),
            origin=str(data.get("origin", "")),
            node_index=int(data.get("node_index", 0)),
            node_total=int(data.get("node_total", 0)),
            entrypoint=_optional_strings(data.get("entrypoint")),
            retry_on=_strings(data.get("retry_on")),
            retry_exit_codes=tuple(int(c) for c in data.get("retry_exit_codes", ())),
            coverage=str(data.get("coverage", "")),
            resource_group=str(data.get("resource_group", "")),
            interruptible=bool(data.get("interruptible", False)),
            environment=str(data.get("environment", "")),
            environment_url=str(data.get("environment_url", "")),
            environment_action=str(data.get("environment_action", "")),
            environment_tier=str(data.get("environment_tier", "")),
            release=str(data.get("release", "")),
            services=tuple(Service.from_dict(s) for s in data.get("services", ())),
            caches=tuple(Cache.from_dict(c) for c in data.get("caches", ())),
            secrets=tuple(SecretRequest.from_dict(s) for s in data.get("secrets", ())),
        )


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


def _optional_strings(value: object) -> tuple[str, ...] | None:
    return None if value is None else _strings(value)


@dataclass(frozen=True)
class ExcludedJob:
    """A job of the file that is not in the run, and why (a rule, ``only``/``except``)."""

    name: str
    stage: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "stage": self.stage, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExcludedJob:
        return cls(str(data["name"]), str(data.get("stage", "")), str(data.get("reason", "")))


@dataclass(frozen=True)
class Pipeline:
    """A validated pipeline: stages in run order and every job resolved."""

    name: str
    stages: tuple[str, ...]
    jobs: tuple[Job, ...]
    source_file: str = ""
    kind: str = "xxci"
    """The file's format: ``xxci`` (``.pipelines/``) or ``gitlab`` (``.gitlab-ci.yml``)."""
    excluded: tuple[ExcludedJob, ...] = ()
    """Jobs of the file that rules, ``only`` or ``except`` leave out of this run."""
    not_run: str = ""
    """Why no run would be made for this context (``workflow: rules``); "" if it runs."""
    context_variables: Mapping[str, str] = field(default_factory=dict)
    """The predefined variables of the run's context (CI_COMMIT_BRANCH, ...)."""
    masked_variables: tuple[str, ...] = ()
    """Variables declared ``masked: true``: their values are masked in job logs."""

    def job(self, name: str) -> Job:
        for job in self.jobs:
            if job.name == name:
                return job
        raise KeyError(name)

    def jobs_in_stage(self, stage: str) -> tuple[Job, ...]:
        return tuple(j for j in self.jobs if j.stage == stage)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "stages": list(self.stages),
            "jobs": [j.to_dict() for j in self.jobs],
            "source_file": self.source_file,
            "kind": self.kind,
            "excluded": [e.to_dict() for e in self.excluded],
            "not_run": self.not_run,
            "context_variables": dict(self.context_variables),
            "masked_variables": list(self.masked_variables),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pipeline:
        return cls(
            name=str(data["name"]),
            stages=tuple(str(s) for s in data["stages"]),
            jobs=tuple(Job.from_dict(j) for j in data["jobs"]),
            source_file=str(data.get("source_file", "")),
            kind=str(data.get("kind", "xxci")),
            excluded=tuple(ExcludedJob.from_dict(e) for e in data.get("excluded", ())),
            not_run=str(data.get("not_run", "")),
            context_variables={
                str(k): str(v) for k, v in (data.get("context_variables") or {}).items()
            },
            masked_variables=tuple(str(n) for n in data.get("masked_variables", ())),
        )
