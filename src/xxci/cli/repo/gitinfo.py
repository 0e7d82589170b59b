"""What the CLI learns from git: the repository, branch and commit of a run."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from xxci.common.errors import UsageError


@dataclass(frozen=True)
class Checkout:
    root: Path
    repo: str
    branch: str
    commit: str


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def describe(root: Path, branch: str | None = None, commit: str | None = None) -> Checkout:
    """Branch and commit of ``root`` (overridable); repo named by its origin or folder."""
    repo = _git(root, "config", "--get", "remote.origin.url") or root.resolve().name
    if commit:
        resolved = _git(root, "rev-parse", "--verify", f"{commit}^{{commit}}")
        if resolved is None:
            raise UsageError(f"unknown commit {commit!r} in {root}")
        commit = resolved
    else:
        commit = _git(root, "rev-parse", "HEAD") or ""
    if not branch:
        branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD") or ""
        if branch == "HEAD":
            branch = ""
    return Checkout(root=root, repo=repo, branch=branch, commit=commit)


def worktree_files(root: Path) -> list[str] | None:
    """Files of the working tree that git does not ignore (tracked or not), relative to
    ``root``; None when ``root`` is not in a git repository."""
    out = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if out is None:
        return None
    return [name for name in out.split("\0") if name]


def archive(root: Path, commit: str, dest: Path) -> Path:
    """The tree of ``commit`` as a tar file (what a CI server would check out)."""
    try:
        subprocess.run(
            ["git", "-C", str(root), "archive", "--format=tar", "-o", str(dest), commit],
            check=True,
            capture_output=True,
            timeout=300,
        )
    except subprocess.CalledProcessError as err:
        raise UsageError(f"cannot archive commit {commit}: {err.stderr.decode().strip()}") from err
    return dest


def show(root: Path, commit: str, path: Path) -> str:
    """A file's text at ``commit``."""
    rel = path.resolve().relative_to(root.resolve())
    text = _git(root, "show", f"{commit}:{rel.as_posix()}")
    if text is None:
        raise UsageError(f"{rel} does not exist at commit {commit[:12]}")
    return text + "\n"
