"""Which pipeline files a command works on: the repository root and the selector."""

from __future__ import annotations

import atexit
import functools
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import asyncclick as click

from xxci.cli.options import Selector
from xxci.common.errors import UsageError
from xxci.common.spec import messages, select


def find_repo_root(start: Path) -> Path | None:
    """The top folder of the git repository around ``start``, or None outside one."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=start,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:  # git is not installed: fall back to looking for .git
        return next((p for p in (start, *start.parents) if (p / ".git").exists()), None)
    top = result.stdout.strip()
    return Path(top) if result.returncode == 0 and top else None


_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|[\w.-]+@[\w.-]+:)", re.IGNORECASE)


def is_url(text: str) -> bool:
    """``https://...``, ``ssh://...``, ``file://...`` or scp-like ``git@host:path``."""
    return bool(_URL.match(text))


def resolve_repo(repo: str | None, branch: str | None = None) -> Path | None:
    """The folder ``--repo`` names; a git URL is cloned (``branch`` checked out, if
    given) into a temporary folder first, removed when the command ends (or at
    once, when the clone fails)."""
    if repo is None:
        return None
    if not is_url(repo):
        return Path(repo)
    clone = Path(tempfile.mkdtemp(prefix="xxci-clone-"))
    try:
        _clone(repo, branch, clone)
    except BaseException:
        shutil.rmtree(clone, ignore_errors=True)
        raise
    _remove_when_done(clone)
    return clone


def _remove_when_done(folder: Path) -> None:
    """Remove ``folder`` when the running command ends; outside a command, when the
    process does."""
    remove = functools.partial(shutil.rmtree, folder, True)
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        atexit.register(remove)
    else:
        ctx.call_on_close(remove)


def _clone(repo: str, branch: str | None, clone: Path) -> None:
    try:
        result = subprocess.run(
            [
                "git",
                "clone",
                "--quiet",
                *(["--branch", branch] if branch else []),
                repo,
                str(clone),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise UsageError(f"cannot clone {repo}: {err}") from err
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        reason = next((line for line in lines if line.startswith("fatal:")), "git clone failed")
        raise UsageError(f"cannot clone {repo}: {reason.removeprefix('fatal:').strip()}")


def context_root(selector: Selector, paths: list[Path]) -> Path | None:
    """The repository a command's run context comes from: ``--repo``, else the git
    repository around the (first) pipeline file, else that file's folder."""
    if selector.repo is not None:
        return selector.repo
    if not paths:
        return find_repo_root(Path.cwd())
    folder = paths[0].resolve().parent
    root = find_repo_root(folder)
    if root is not None:
        return root
    return folder.parent if folder.name == ".pipelines" else folder


def selected_files(selector: Selector) -> list[Path]:
    """The files ``selector`` names; :class:`UsageError` when that makes no sense."""
    repo = selector.repo
    if repo is not None and not repo.is_dir():
        raise UsageError(messages.no_such_repo(str(repo)))
    file = selector.file
    if file is not None and repo is not None and not file.is_absolute():
        file = repo / file
    if repo is None and file is None:
        repo = find_repo_root(Path.cwd())
    return select(repo, file=file, pipeline=selector.pipeline)
