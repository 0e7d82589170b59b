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

DEFAULT_STAGES: tuple[str, ...] = ("build", "test", "doc", "deploy")
DEFAULT_TIMEOUT_SECONDS = 3600


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
    """Paths (globs, relative to /workspace) collected from a finished job."""

    paths: tuple[str, ...] = ()
    when: ArtifactWhen = ArtifactWhen.ON_SUCCESS

    def to_dict(self) -> dict[str, Any]:
        return {"paths": list(self.paths), "when": self.when.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Artifacts:
        return cls(
            paths=tuple(str(p) for p in data.get("paths", ())),
            when=ArtifactWhen(data.get("when", ArtifactWhen.ON_SUCCESS.value)),
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
        )


@dataclass(frozen=True)
class Pipeline:
    """A validated pipeline: stages in run order and every job resolved."""

    name: str
    stages: tuple[str, ...]
    jobs: tuple[Job, ...]
    source_file: str = ""

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
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pipeline:
        return cls(
            name=str(data["name"]),
            stages=tuple(str(s) for s in data["stages"]),
            jobs=tuple(Job.from_dict(j) for j in data["jobs"]),
            source_file=str(data.get("source_file", "")),
        )
