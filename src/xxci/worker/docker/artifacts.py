"""Artifact path patterns: which files of ``/workspace`` a job's ``artifacts.paths`` name.

A pattern is a path relative to ``/workspace`` whose components may hold glob
characters (``*``, ``?``, ``[...]``, matched within one component). A component ``**``
matches any number of components, zero included. A pattern that matches a directory
takes everything under it; a trailing ``/`` makes it match directories only.

Matching works on the names inside the archive Docker returns, never on the host's
file system, so symlinks a job creates cannot make the worker read the host's files.
"""

from __future__ import annotations

import copy
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
    "Collection",
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


class Collection:
    """The artifacts being collected: members of the fetched archives that
    ``selection`` wants, kept until their file data would pass ``limit`` bytes.

    :meth:`add` reads each fetched archive once, in order (a stream will do), and keeps
    what is selected in a plain temporary tar in ``directory``; :meth:`finish` writes
    the artifact archive from it, its members sorted, hard links made copies of the
    data they name. Once a file does not fit, it and everything after it are left out
    (``cut``). Synchronous: run it in a thread.
    """

    def __init__(
        self,
        selection: Selection,
        directory: Path | None,
        limit: int | None = None,
    ) -> None:
        self._selection = selection
        self._directory = directory
        self.limit = limit
        self.kept_bytes = 0
        self.cut = False
        """A file did not fit in the limit: it and those after it were left out."""
        fd, name = tempfile.mkstemp(prefix="xxci-selection-", suffix=".tar", dir=directory)
        os.close(fd)
        self._temp = Path(name)
        self._sink = tarfile.open(self._temp, "w", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        self._kept: dict[str, int] = {}

    def add(self, root: str, source: tarfile.TarFile) -> None:
        """Keep what ``source`` (``get_archive`` of ``/workspace/<root>``) holds that the
        selection wants, until the limit is reached."""
        for member in source:
            if self.cut:
                return
            rel = archive_path(root, member.name)
            if rel is None or not self._selection.wants(rel, member.isdir()):
                continue
            info = copy.copy(member)
            info.name = rel
            # The old name and link may be in the pax header too, where they would win.
            info.pax_headers = {
                k: v for k, v in member.pax_headers.items() if k not in ("path", "linkpath")
            }
            size = member.size if member.isreg() else 0
            if member.islnk():
                # A second name for data that came earlier: kept only if that data was.
                info.linkname = archive_path(root, member.linkname) or ""
                if info.linkname not in self._kept:
                    continue
                size = self._kept[info.linkname]
            if self.limit is not None and self.kept_bytes + size > self.limit:
                self.cut = True
                return
            self.kept_bytes += size
            data = source.extractfile(member) if member.isreg() else None
            self._sink.addfile(info, data)
            if member.isreg() or member.islnk():
                self._kept[rel] = size

    def finish(self) -> tuple[Path | None, int]:
        """The artifact archive (None when nothing was kept) and its entry count."""
        self._sink.close()
        dest: Path | None = None
        try:
            fd, name = tempfile.mkstemp(
                prefix="xxci-artifacts-", suffix=".tar.gz", dir=self._directory
            )
            os.close(fd)
            dest = Path(name)
            with ArchiveWriter(dest) as writer, tarfile.open(self._temp) as kept:
                members = sorted(kept.getmembers(), key=lambda m: m.name.split("/"))
                copy_members(kept, writer, ((m, m.name) for m in members))
            count = writer.count
        except BaseException:
            if dest is not None:
                dest.unlink(missing_ok=True)
            raise
        finally:
            self._temp.unlink(missing_ok=True)
        if count == 0:
            dest.unlink(missing_ok=True)
            return None, 0
        return dest, count

    def discard(self) -> None:
        """Give up: remove what was kept."""
        self._sink.close()
        self._temp.unlink(missing_ok=True)


def write_selection(
    archives: Sequence[tuple[str, tarfile.TarFile]],
    selection: Selection,
    directory: Path | None,
    limit: int | None = None,
) -> tuple[Path | None, int]:
    """Write the members of ``archives`` that ``selection`` wants into a new archive in
    ``directory`` (the temp dir if None), named relative to ``/workspace`` (see
    :class:`Collection`).

    ``archives`` pairs each fetch root with what ``get_archive`` returned for it.
    Returns the archive and its entry count, or ``(None, 0)`` when nothing matched.
    """
    collection = Collection(selection, directory, limit)
    try:
        for root, archive in archives:
            collection.add(root, archive)
    except BaseException:
        collection.discard()
        raise
    return collection.finish()
