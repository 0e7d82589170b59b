"""What a run is for: the branch, commit and event that rules are evaluated against.

A :class:`RunContext` is what GitLab knows when it creates a pipeline: the ref, the
commit, the pipeline source (``push`` by default), the files of the tree and which of
them the commit changed. Rules, ``only``/``except``, ``workflow`` and
``include: local`` are resolved against it; :func:`predefined_variables` gives the
``CI_*`` variables that follow from it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from xxci.common.spec.files import NO_FILES, RepoFiles

__all__ = ["DEFAULT_BRANCH", "RunContext", "predefined_variables", "slug"]

DEFAULT_BRANCH = "main"
PROJECT_DIR = "/workspace"


@dataclass(frozen=True)
class RunContext:
    """The run's circumstances. ``changed_files`` is None when the commit has no
    parent (then every ``changes`` rule is true, as in GitLab)."""

    branch: str = DEFAULT_BRANCH
    tag: str = ""
    commit: str = ""
    commit_message: str = ""
    default_branch: str = DEFAULT_BRANCH
    source: str = "push"
    project: str = ""
    """The project's path (``group/name``) or name."""
    variables: Mapping[str, str] = field(default_factory=dict)
    """Variables given for this run (``--variable``): they win over the file's."""
    changed_files: tuple[str, ...] | None = None
    files: RepoFiles = field(default=NO_FILES, compare=False, repr=False)

    @property
    def ref(self) -> str:
        return self.tag or self.branch


def slug(text: str) -> str:
    """GitLab's ``*_SLUG`` form: lowercased, every run of characters other than
    ``a-z0-9`` turned into ``-``, at most 63 characters, no ``-`` at either end."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower())[:63].strip("-")


def predefined_variables(context: RunContext) -> dict[str, str]:
    """The ``CI_*`` variables of the pipeline (the job's own are added when it runs)."""
    project = context.project.rstrip("/")
    name = project.rsplit("/", 1)[-1]
    namespace = project.rsplit("/", 1)[0] if "/" in project else ""
    message = context.commit_message
    title = message.split("\n", 1)[0]
    values = {
        "CI": "true",
        "GITLAB_CI": "true",
        "CI_SERVER": "yes",
        "CI_COMMIT_SHA": context.commit,
        "CI_COMMIT_SHORT_SHA": context.commit[:8],
        "CI_COMMIT_BEFORE_SHA": "0" * 40,
        "CI_COMMIT_REF_NAME": context.ref,
        "CI_COMMIT_REF_SLUG": slug(context.ref),
        "CI_COMMIT_MESSAGE": message,
        "CI_COMMIT_TITLE": title,
        "CI_COMMIT_DESCRIPTION": message.split("\n", 1)[1].strip("\n") if "\n" in message else "",
        "CI_DEFAULT_BRANCH": context.default_branch,
        "CI_PIPELINE_SOURCE": context.source,
        "CI_PROJECT_DIR": PROJECT_DIR,
        "CI_PROJECT_NAME": name,
        "CI_PROJECT_PATH": project,
        "CI_PROJECT_PATH_SLUG": slug(project),
        "CI_PROJECT_NAMESPACE": namespace,
        "CI_BUILDS_DIR": "/",
        "CI_CONFIG_PATH": ".gitlab-ci.yml",
    }
    if context.tag:
        values["CI_COMMIT_TAG"] = context.tag
        values["CI_COMMIT_TAG_MESSAGE"] = ""
    elif context.branch:
        values["CI_COMMIT_BRANCH"] = context.branch
    return values
