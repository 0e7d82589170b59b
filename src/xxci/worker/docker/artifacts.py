"""Artifact path patterns: which files of ``/workspace`` a job's ``artifacts.paths`` name.

A pattern is a path relative to ``/workspace`` whose components may hold glob
characters (``*``, ``?``, ``[...]``, matched within one component). A component ``**``
matches any number of components, zero included. A pattern that matches a directory
takes everything under it; a trailing ``/`` makes it match directories only.

Matching works on the names inside the archive Docker returns, never on the host's
file system, so symlinks a job creates cannot make the worker read the host's files.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from xxci.common.archives import ArchiveWriter, copy_members

__all__ = [
    "ArtifactPattern",
    "InvalidPattern",
    "Selection",
    "archive_path",
    "fetch_roots",
    "selected",
    "write_selection",
]

_GLOB_CHARS = frozenset("*?[")


class InvalidPattern(ValueError):
    """An artifact path that cannot name anything inside ``/workspace``."""


@dataclass(frozen=True)
class ArtifactPattern:
    """One parsed ``artifacts.paths`` entry."""

    text: str
    parts: tuple[str, ...]
    dirs_only: bool

    @classmethod
    def parse(cls, text: str) -> ArtifactPattern:
        raw = text.strip()
        if raw.startswith("/"):
            raise InvalidPattern(f"artifact path {text!r} must be relative to /workspace")
        parts: list[str] = []
        for part in raw.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                raise InvalidPattern(f"artifact path {text!r} leaves /workspace")
            if part == "**" and parts and parts[-1] == "**":
                continue
            parts.append(part)
        if not parts:
            raise InvalidPattern(f"artifact path {text!r} names the whole workspace")
        return cls(text=text, parts=tuple(parts), dirs_only=raw.endswith("/"))

    @property
    def root(self) -> str:
        """The literal directory the pattern cannot match outside of ("" for all)."""
        literal: list[str] = []
        for part in self.parts[:-1]:
            if _GLOB_CHARS & set(part):
                break
            literal.append(part)
        else:
            if not _GLOB_CHARS & set(self.parts[-1]):
                literal = list(self.parts)  # no glob at all: fetch just that path
        return "/".join(literal)

    def matches(self, path: str, *, is_dir: bool) -> bool:
        """Whether ``path`` (relative, ``/``-separated) itself matches the pattern."""
        if self.dirs_only and not is_dir:
            return False
        return _match(self.parts, tuple(p for p in path.split("/") if p))


@functools.lru_cache(maxsize=4096)
def _match(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    if not pattern:
        return not path
    head = pattern[0]
    if head == "**":
        return any(_match(pattern[1:], path[i:]) for i in range(len(path) + 1))
    return bool(path) and fnmatch.fnmatchcase(path[0], head) and _match(pattern[1:], path[1:])


def fetch_roots(patterns: Iterable[ArtifactPattern]) -> list[str]:
    """The fewest paths to fetch from the container to see every candidate match.

    Sorted; a root under another one is dropped; "" means the whole workspace.
    """
    roots = sorted({p.root for p in patterns})
    kept: list[str] = []
    for root in roots:
        if any(k == "" or root == k or root.startswith(k + "/") for k in kept):
            continue
        kept.append(root)
    return kept


def archive_path(root: str, member_name: str) -> str | None:
    """Where a member of ``get_archive("/workspace/<root>")`` lives, relative to
    ``/workspace`` (None for the workspace directory itself).

    Docker names the members of a fetched path after its last component: fetching
    ``/workspace/build/libs`` yields ``libs``, ``libs/a.jar``...
    """
    name = member_name.strip("/")
    if name.startswith("./"):
        name = name[2:]
    if root == "":
        # Fetched /workspace itself: members are "workspace", "workspace/...".
        _, _, rest = name.partition("/")
        return rest or None
    parent = root.rpartition("/")[0]
    return f"{parent}/{name}" if parent else name


def selected(path: str, is_dir: bool, patterns: Iterable[ArtifactPattern]) -> bool:
    """Whether ``path`` belongs in the artifacts: it, or a directory above it, matches."""
    parts = path.split("/")
    for pattern in patterns:
        if pattern.matches(path, is_dir=is_dir):
            return True
        for depth in range(1, len(parts)):
            if pattern.matches("/".join(parts[:depth]), is_dir=True):
                return True
    return False


@dataclass(frozen=True)
class Selection:
    """Which workspace paths a job's artifacts hold, as GitLab's runner picks them: what
    ``patterns`` select and, with ``tracked`` (the source tree's paths: ``untracked:
    true``), every file not in it; less each path an ``exclude`` pattern matches
    itself (not recursive: ``build/**`` takes out what is under ``build``)."""

    patterns: tuple[ArtifactPattern, ...] = ()
    exclude: tuple[ArtifactPattern, ...] = ()
    tracked: frozenset[str] | None = None

    def roots(self) -> list[str]:
        """The paths to fetch from the container (see :func:`fetch_roots`)."""
        return [""] if self.tracked is not None else fetch_roots(self.patterns)

    def wants(self, path: str, is_dir: bool) -> bool:
        if any(p.matches(path, is_dir=is_dir) for p in self.exclude):
            return False
        if selected(path, is_dir, self.patterns):
            return True
        return self.tracked is not None and not is_dir and path not in self.tracked


def write_selection(
    archives: Sequence[tuple[str, tarfile.TarFile]],
    selection: Selection,
    directory: Path | None,
) -> tuple[Path | None, int]:
    """Write the members of ``archives`` that ``selection`` wants into a new archive in
    ``directory`` (the temp dir if None), named relative to ``/workspace``.

    ``archives`` pairs each fetch root with what ``get_archive`` returned for it.
    Returns the archive and its entry count, or ``(None, 0)`` when nothing matched.
    """
    fd, name = tempfile.mkstemp(prefix="xxci-artifacts-", suffix=".tar.gz", dir=directory)
    os.close(fd)
    dest = Path(name)
    try:
        with ArchiveWriter(dest) as writer:
            for root, archive in archives:
                chosen: list[tuple[tarfile.TarInfo, str]] = []
                for member in archive.getmembers():
                    rel = archive_path(root, member.name)
                    if rel is not None and selection.wants(rel, member.isdir()):
                        chosen.append((member, rel))
                chosen.sort(key=lambda pair: pair[1].split("/"))
                copy_members(archive, writer, chosen)
        count = writer.count
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    if count == 0:
        dest.unlink(missing_ok=True)
        return None, 0
    return dest, count
