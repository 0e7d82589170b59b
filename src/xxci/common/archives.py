"""Tar archives of workspaces: the source tree a run starts from and jobs' artifacts.

Every archive xxci writes is a gzip-compressed POSIX (pax) tar whose member names are
relative to ``/workspace``, in sorted order, owned by root, with whole-second mtimes
and no timestamp in the gzip header: the same tree always gives the same bytes, so
the same content digest.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import tempfile
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = [
    "SKIPPED_NAMES",
    "ArchiveWriter",
    "copy_members",
    "merge_archives",
    "open_archive",
    "pack_directory",
]

SKIPPED_NAMES = frozenset({".git"})
"""Names never packed from a source tree, at any depth (a file or a directory)."""


class ArchiveWriter:
    """Writes a deterministic archive; members are normalised as they are added.

    Use as a context manager. A name added twice keeps its first member.
    """

    def __init__(self, dest: Path) -> None:
        self.path = dest
        self._raw = dest.open("wb")
        self._gzip = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0)
        # Held open for the writer's lifetime; close() releases all three.
        self._tar = tarfile.open(  # noqa: SIM115
            fileobj=self._gzip, mode="w", format=tarfile.PAX_FORMAT
        )
        self._names: set[str] = set()

    @property
    def count(self) -> int:
        """How many members were written."""
        return len(self._names)

    def add(self, info: tarfile.TarInfo, data: IO[bytes] | None = None) -> bool:
        """Add ``info`` (name already relative to the workspace); False if a duplicate."""
        info = _normalised(info, info.name)
        if not info.name or info.name in self._names:
            return False
        if not (info.isreg() or info.isdir() or info.issym()):
            return False  # devices, fifos, hard links: nothing a workspace needs
        self._names.add(info.name)
        self._tar.addfile(info, data if info.isreg() else None)
        return True

    def close(self) -> None:
        try:
            self._tar.close()
            self._gzip.close()
        finally:
            self._raw.close()

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _normalised(info: tarfile.TarInfo, name: str) -> tarfile.TarInfo:
    copy = tarfile.TarInfo(name.strip("/"))
    copy.type = info.type
    copy.mode = info.mode & 0o7777
    copy.size = info.size if info.isreg() else 0
    copy.mtime = int(info.mtime)
    copy.linkname = info.linkname if info.issym() else ""
    return copy


def _tree(root: Path, only: Collection[str] | None = None) -> list[tuple[str, str]]:
    """(name relative to ``root``, absolute path) of every entry, sorted by path.

    With ``only`` (paths relative to ``root``, ``/``-separated), just those files and
    the folders that lead to them.
    """
    keep_dirs: set[str] = set()
    if only is not None:
        for name in only:
            parts = name.split("/")[:-1]
            keep_dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    found: list[tuple[str, str]] = []
    for directory, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(directory, root)
        prefix = "" if rel == "." else f"{rel.replace(os.sep, '/')}/"
        # A symlink to a directory is a link like any other (git tracks it as one):
        # packed as a link, never followed, whether it points inside the tree or not.
        links = [d for d in dirnames if os.path.islink(os.path.join(directory, d))]
        dirnames[:] = [
            d
            for d in dirnames
            if d not in SKIPPED_NAMES
            and d not in links
            and (only is None or f"{prefix}{d}" in keep_dirs)
        ]
        files = [f for f in filenames + links if f not in SKIPPED_NAMES]
        if only is not None:
            files = [f for f in files if f"{prefix}{f}" in only]
        for name in dirnames + files:
            found.append((f"{prefix}{name}", os.path.join(directory, name)))
    found.sort(key=lambda item: item[0].split("/"))
    return found


def pack_directory(
    root: Path, dest: Path | None = None, only: Collection[str] | None = None
) -> Path:
    """Pack the tree at ``root`` into a deterministic archive and return its path.

    ``only`` limits it to those files (relative to ``root``; e.g. what git does not
    ignore). ``.git`` is skipped at any depth; symlinks are stored as links, never followed;
    sockets, fifos and devices are left out. Without ``dest`` the archive is written
    to a new temporary file, which the caller owns.
    """
    if not root.is_dir():
        raise NotADirectoryError(f"not a directory: {root}")
    if dest is None:
        fd, name = tempfile.mkstemp(prefix="xxci-source-", suffix=".tar.gz")
        os.close(fd)
        dest = Path(name)
    # gettarinfo needs an open TarFile; this one only reads stat results.
    with (
        ArchiveWriter(dest) as writer,
        tarfile.open(fileobj=io.BytesIO(), mode="w") as probe,
    ):
        for name, path in _tree(root, None if only is None else frozenset(only)):
            info = probe.gettarinfo(path, arcname=name)
            if info.islnk():
                # A second name for a file already packed: store it as a copy.
                info.type = tarfile.REGTYPE
                info.size = os.stat(path).st_size
            if info.isreg():
                with open(path, "rb") as data:
                    writer.add(info, data)
            else:
                writer.add(info)
    return dest


@contextmanager
def open_archive(path: Path) -> Iterator[tarfile.TarFile]:
    """Open an archive (plain or compressed) for reading."""
    with tarfile.open(path, mode="r:*") as tar:
        yield tar


def copy_members(
    source: tarfile.TarFile,
    writer: ArchiveWriter,
    rename: Iterable[tuple[tarfile.TarInfo, str]],
) -> int:
    """Copy ``(member, new name)`` pairs of ``source`` into ``writer``; returns how many.

    Hard links become regular files holding the linked data.
    """
    copied = 0
    for member, name in rename:
        info = _normalised(member, name)
        if member.islnk() or member.isreg():
            # extractfile resolves a hard link to the data it links to.
            data = source.extractfile(member)
            if data is None:
                continue
            if member.islnk():
                info.type = tarfile.REGTYPE
                info.size = source.getmember(member.linkname).size
            copied += writer.add(info, data)
        else:
            copied += writer.add(info)
    return copied


def merge_archives(sources: Iterable[Path], dest: Path) -> Path:
    """Merge archives as if unpacked in order into one tree: a later one wins a name.

    Each source is read once; members keep their order within their source.
    """
    sources = list(sources)
    winner: dict[str, int] = {}
    for index, path in enumerate(sources):
        with open_archive(path) as tar:
            for member in tar.getmembers():
                winner[member.name.strip("/")] = index
    with ArchiveWriter(dest) as writer:
        for index, path in enumerate(sources):
            with open_archive(path) as tar:
                mine = (m for m in tar.getmembers() if winner.get(m.name.strip("/")) == index)
                copy_members(tar, writer, ((m, m.name) for m in mine))
    return dest
