"""The repository's files as the loader sees them: for ``include: local`` and ``exists``.

A :class:`RepoFiles` lists the files of the tree a run gets (paths relative to the
repository root, ``/``-separated) and reads one of them. The CLI reads the working
tree (:class:`DirectoryFiles`), the orchestrator the source archive it was sent
(:class:`ArchiveFiles`): both see the same files, so both load the same pipeline.
"""

from __future__ import annotations

import functools
import re
import tarfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Protocol

from wcmatch import glob

__all__ = [
    "NO_FILES",
    "ArchiveFiles",
    "DirectoryFiles",
    "RepoFiles",
    "glob_match",
    "matching",
    "wildcard_matching",
]

READ_CAP = 64 * 1024 * 1024
"""Bytes read of one included file at most: past any file limit, so an include of a
huge file is refused by the size check (at its line) without being held whole."""

GLOB_FLAGS = glob.GLOBSTAR | glob.DOTMATCH | glob.EXTGLOB | glob.BRACE
"""GitLab matches ``exists``, ``changes`` and include globs with Ruby's fnmatch and
these options: ``**`` spans folders, ``*`` matches dot files, ``{a,b}`` alternates."""


class RepoFiles(Protocol):
    """The files of the source tree a run gets."""

    def names(self) -> frozenset[str]:
        """Every file, as a relative ``/``-separated path."""
        ...

    def read(self, path: str) -> str | None:
        """The text of ``path``, or None when there is no such file."""
        ...


def glob_match(path: str, pattern: str) -> bool:
    """Whether ``path`` (relative) matches ``pattern`` as GitLab matches paths."""
    return glob.globmatch(path, pattern.lstrip("/"), flags=GLOB_FLAGS)


def wildcard_matching(files: RepoFiles, pattern: str) -> list[str]:
    """The files an ``include: local`` wildcard names, sorted, as GitLab finds them: the
    pattern is literal but for ``*`` (any characters but ``/``) and ``**`` (any
    characters at all), so ``ci/**.yml`` reaches every folder under ``ci`` and
    ``ci/**/*.yml`` only its subfolders."""
    regex = re.compile(
        re.escape(pattern.lstrip("/")).replace(r"\*\*", ".*?").replace(r"\*", "[^/]*?")
    )
    return sorted(name for name in files.names() if regex.fullmatch(name))


def matching(files: RepoFiles, pattern: str) -> list[str]:
    """The files matching ``pattern``, sorted."""
    return sorted(name for name in files.names() if glob_match(name, pattern))


class _NoFiles:
    def names(self) -> frozenset[str]:
        return frozenset()

    def read(self, path: str) -> str | None:
        return None


NO_FILES: RepoFiles = _NoFiles()
"""No repository at all: every include is missing and no file exists."""


class DirectoryFiles:
    """A folder on disk; ``only`` (when given) limits it to those files (what git
    tracks or would track), as the tree sent to a run is limited."""

    def __init__(self, root: Path, only: Iterable[str] | None = None) -> None:
        self._root = root
        self._only = None if only is None else frozenset(only)

    @functools.cache  # noqa: B019 - one instance per command; the tree does not change
    def names(self) -> frozenset[str]:
        if self._only is not None:
            return self._only
        return frozenset(
            path.relative_to(self._root).as_posix()
            for path in self._root.rglob("*")
            if path.is_file() and ".git" not in path.relative_to(self._root).parts
        )

    def read(self, path: str) -> str | None:
        relative = _normal(path)
        if relative is None or relative not in self.names():
            return None
        try:
            with (self._root / relative).open("rb") as file:
                return _text(file.read(READ_CAP))
        except (OSError, UnicodeDecodeError):
            return None


class ArchiveFiles:
    """A tar archive of the source tree (the blob a run was sent)."""

    def __init__(self, path: Path) -> None:
        self._path = path

    @functools.cache  # noqa: B019 - the archive is immutable
    def _members(self) -> dict[str, tarfile.TarInfo]:
        with tarfile.open(self._path) as archive:
            return {
                _normal(member.name) or member.name: member
                for member in archive.getmembers()
                if member.isfile()
            }

    def names(self) -> frozenset[str]:
        return frozenset(self._members())

    def read(self, path: str) -> str | None:
        relative = _normal(path)
        member = self._members().get(relative or "")
        if member is None:
            return None
        with tarfile.open(self._path) as archive:
            stream = archive.extractfile(member)
            if stream is None:
                return None
            try:
                return _text(stream.read(READ_CAP))
            except UnicodeDecodeError:
                return None


def _text(data: bytes) -> str:
    """UTF-8 text (UnicodeDecodeError if it is not), or for a file cut at READ_CAP,
    as much as decodes: the size check refuses it anyway."""
    return data.decode("utf-8-sig", "replace" if len(data) >= READ_CAP else "strict")


def _normal(path: str) -> str | None:
    """``path`` relative to the root, or None when it leaves the repository."""
    parts: list[str] = []
    for part in PurePosixPath(path.lstrip("/")).parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts) if parts else None
