"""The run's context as git tells it: what rules, ``include`` and ``exists`` see.

The CLI works out the branch, the commit, the default branch, the files of the tree
and the files the commit changed, once, and uses the same :class:`RunContext` for
``check``, ``dry-run`` and ``run`` (``run`` sends it to the orchestrator with the
source tree). Outside a git repository the run is a push to ``main`` of the folder.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from xxci.cli.repo.gitinfo import worktree_files
from xxci.common.errors import UsageError
from xxci.common.spec.context import DEFAULT_BRANCH, RunContext
from xxci.common.spec.files import DirectoryFiles, RepoFiles

__all__ = ["SOURCES", "GitCommitFiles", "parse_variables", "run_context"]

SOURCES = (
    "push",
    "web",
    "schedule",
    "api",
    "trigger",
    "merge_request_event",
    "pipeline",
    "parent_pipeline",
    "external",
    "chat",
)
"""The values of ``--source`` (GitLab's ``CI_PIPELINE_SOURCE``)."""


def _git(root: Path, *args: str, raw: bool = False) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    return result.stdout if raw else result.stdout.strip()


class GitCommitFiles:
    """The files of one commit, read from git."""

    def __init__(self, root: Path, commit: str) -> None:
        self._root = root
        self._commit = commit
        listed = _git(root, "ls-tree", "-r", "--name-only", "-z", commit) or ""
        self._names = frozenset(name for name in listed.split("\0") if name)

    def names(self) -> frozenset[str]:
        return self._names

    def read(self, path: str) -> str | None:
        if path not in self._names:
            return None
        return _git(self._root, "show", f"{self._commit}:{path}", raw=True)


def parse_variables(items: Sequence[str]) -> dict[str, str]:
    """``NAME=VALUE`` items as a mapping; :class:`UsageError` for a malformed one."""
    variables: dict[str, str] = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not equals or not name.strip() or not name.replace("_", "a").isalnum():
            raise UsageError(f"invalid --variable {item!r}: expected NAME=VALUE")
        variables[name.strip()] = value
    return variables


def run_context(
    root: Path | None,
    *,
    branch: str | None = None,
    commit: str | None = None,
    source: str = "push",
    variables: Sequence[str] = (),
) -> RunContext:
    """The context of a run of ``root`` (None: no repository) at ``commit`` (None:
    the working tree) on ``branch`` (None: the checked-out one)."""
    given = parse_variables(variables)
    if root is None or _git(root, "rev-parse", "--git-dir") is None:
        files: RepoFiles = DirectoryFiles(root) if root is not None else DirectoryFiles(Path.cwd())
        name = (root or Path.cwd()).resolve().name
        chosen = branch or DEFAULT_BRANCH
        return RunContext(
            branch=chosen,
            default_branch=chosen,
            source=source,
            project=name,
            variables=given,
            files=files,
        )
    sha = _git(root, "rev-parse", "--verify", f"{commit or 'HEAD'}^{{commit}}") or ""
    if commit and not sha:
        raise UsageError(f"unknown commit {commit!r} in {root}")
    current = branch or _current_branch(root)
    tag = "" if current else (_git(root, "describe", "--tags", "--exact-match", sha) or "")
    default = _default_branch(root, current)
    return RunContext(
        branch=current or ("" if tag else default),
        tag=tag,
        commit=sha,
        commit_message=(_git(root, "log", "-1", "--format=%B", sha) or "") if sha else "",
        default_branch=default,
        source=source,
        project=_project(root),
        variables=given,
        changed_files=_changed(root, sha, working_tree=commit is None),
        files=GitCommitFiles(root, sha) if commit else DirectoryFiles(root, worktree_files(root)),
    )


def _current_branch(root: Path) -> str:
    """The checked-out branch ("" for a detached HEAD), commits or not."""
    return _git(root, "symbolic-ref", "--short", "-q", "HEAD") or ""


def _default_branch(root: Path, current: str) -> str:
    """origin's HEAD; else the only local branch, ``main`` or ``master``; else the
    checked-out branch (a repository of one branch pushes to its default branch)."""
    remote = _git(root, "symbolic-ref", "--short", "refs/remotes/origin/HEAD")
    if remote:
        return remote.split("/", 1)[-1]
    branches = (_git(root, "for-each-ref", "--format=%(refname:short)", "refs/heads") or "").split()
    if len(branches) == 1:
        return branches[0]
    for name in ("main", "master"):
        if name in branches:
            return name
    return current or DEFAULT_BRANCH


def _project(root: Path) -> str:
    url = _git(root, "config", "--get", "remote.origin.url") or ""
    path = url.split("://", 1)[-1].split(":", 1)[-1] if url else ""
    path = path.split("/", 1)[-1] if "://" in url else path
    path = path.removesuffix(".git").strip("/")
    return path or root.resolve().name


def _changed(root: Path, sha: str, *, working_tree: bool) -> tuple[str, ...] | None:
    """The files changed since the commit's parent (None: it has no parent). For the
    working tree, uncommitted changes and new files count too."""
    if not sha or _git(root, "rev-parse", "--verify", f"{sha}^") is None:
        return None
    if working_tree:
        diff = _git(root, "diff", "--name-only", "-z", f"{sha}^") or ""
        new = _git(root, "ls-files", "-z", "--others", "--exclude-standard") or ""
        names = [*diff.split("\0"), *new.split("\0")]
    else:
        names = (_git(root, "diff", "--name-only", "-z", f"{sha}^", sha) or "").split("\0")
    return tuple(sorted({name for name in names if name}))
