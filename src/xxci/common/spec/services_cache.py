"""The services and caches a job asks for, as the pipeline model holds them.

Both are read with GitLab's syntax (``services:`` and ``cache:`` at the top level, in
``default:`` or on a job) and kept here resolved: a service's aliases include the
default one GitLab derives from its image, and a cache's settings are complete.
Values are as written: ``$VAR`` in a cache key or a path is expanded when the job runs.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Cache", "CachePolicy", "CacheWhen", "Service", "default_aliases"]


class CachePolicy(enum.StrEnum):
    PULL = "pull"
    PUSH = "push"
    PULL_PUSH = "pull-push"


class CacheWhen(enum.StrEnum):
    ON_SUCCESS = "on_success"
    ON_FAILURE = "on_failure"
    ALWAYS = "always"


def default_aliases(image: str) -> tuple[str, ...]:
    """The host names GitLab gives a service by default: its image name without the
    tag or digest, with ``/`` turned into ``__`` and into ``-``
    (``tutum/wordpress:latest`` -> ``tutum__wordpress``, ``tutum-wordpress``)."""
    name = re.sub(r"@.*$", "", image)
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    aliases = [name.replace("/", "__"), name.replace("/", "-")]
    return tuple(dict.fromkeys(a for a in aliases if a))


@dataclass(frozen=True)
class Service:
    """A container started beside the job on a network of its own."""

    name: str
    aliases: tuple[str, ...] = ()
    """Every host name it answers to: GitLab's defaults, then ``alias`` (comma-separated)."""
    entrypoint: tuple[str, ...] | None = None
    command: tuple[str, ...] | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    """The service's own; it also gets the job's variables, as in GitLab."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "entrypoint": None if self.entrypoint is None else list(self.entrypoint),
            "command": None if self.command is None else list(self.command),
            "variables": dict(self.variables),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Service:
        entrypoint, command = data.get("entrypoint"), data.get("command")
        return cls(
            name=str(data["name"]),
            aliases=tuple(str(a) for a in data.get("aliases", ())),
            entrypoint=None if entrypoint is None else tuple(str(e) for e in entrypoint),
            command=None if command is None else tuple(str(c) for c in command),
            variables={str(k): str(v) for k, v in (data.get("variables") or {}).items()},
        )


@dataclass(frozen=True)
class Cache:
    """One cache of a job: restored before the script, saved after it.

    ``key`` is the key as written (default ``default``); with ``key_files`` the key is
    ``key_prefix`` and a digest of those files instead.
    """

    key: str = "default"
    key_files: tuple[str, ...] = ()
    key_prefix: str = ""
    paths: tuple[str, ...] = ()
    untracked: bool = False
    policy: CachePolicy = CachePolicy.PULL_PUSH
    when: CacheWhen = CacheWhen.ON_SUCCESS
    fallback_keys: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "key_files": list(self.key_files),
            "key_prefix": self.key_prefix,
            "paths": list(self.paths),
            "untracked": self.untracked,
            "policy": self.policy.value,
            "when": self.when.value,
            "fallback_keys": list(self.fallback_keys),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cache:
        return cls(
            key=str(data.get("key", "default")),
            key_files=tuple(str(f) for f in data.get("key_files", ())),
            key_prefix=str(data.get("key_prefix", "")),
            paths=tuple(str(p) for p in data.get("paths", ())),
            untracked=bool(data.get("untracked", False)),
            policy=CachePolicy(data.get("policy", CachePolicy.PULL_PUSH.value)),
            when=CacheWhen(data.get("when", CacheWhen.ON_SUCCESS.value)),
            fallback_keys=tuple(str(k) for k in data.get("fallback_keys", ())),
        )
