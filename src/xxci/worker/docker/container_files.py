"""The files a job's container gets before it starts, all in one archive.

Each archive the engine unpacks into a container costs it a mount and an extraction
process (tens of milliseconds of CPU), so a job gets at most one, unpacked at ``/``:
``workspace/`` holding the source tree, then each earlier job's artifacts over it in
order (a later member replaces an earlier one of the same name, as if each archive
were unpacked in turn), then the job script if it is too long to pass inline.

The archive is assembled from parts. The *body* of a workspace archive is its members
renamed under ``workspace/``, uncompressed and without the end-of-archive blocks, so
bodies concatenate into one tar. A body is made once per archive file and kept in a
:class:`BodyCache`: the jobs of a run that share a source tree (and those that share
artifacts) unpack and re-pack it once per worker, not once per job.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import io
import os
import tarfile
import tempfile
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from xxci.common.archives import open_archive

__all__ = ["WORKSPACE_DIR", "BodyCache", "archive_stream", "header", "write_body"]

WORKSPACE_DIR = "workspace"
_END = bytes(2 * tarfile.BLOCKSIZE)
_CHUNK = 256 * 1024


def header(script: tuple[str, bytes] | None = None) -> bytes:
    """The first members: the ``workspace/`` folder and, when given, the job script as
    ``(path, text)`` (mode 0600, in a 0700 folder). No end-of-archive blocks."""
    buffer = io.BytesIO()
    tar = tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115
    folders = [(WORKSPACE_DIR, 0o755)]
    if script is not None:
        folders.append((os.path.dirname(script[0].strip("/")), 0o700))
    for name, mode in folders:
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE
        info.mode = mode
        tar.addfile(info)
    if script is not None:
        path, data = script
        info = tarfile.TarInfo(path.strip("/"))
        info.size = len(data)
        info.mode = 0o600
        tar.addfile(info, io.BytesIO(data))
    end = tar.offset
    tar.close()
    return buffer.getvalue()[:end]


def write_body(archive: Path, dest: Path) -> None:
    """Write the body of ``archive`` (plain or compressed) to ``dest``: its members
    under ``workspace/``, uncompressed, without end-of-archive blocks."""
    with open_archive(archive) as source, dest.open("wb") as out:
        tar = tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        for member in source:
            name = member.name.strip("/")
            if name in ("", "."):
                continue
            info = copy.copy(member)
            info.name = f"{WORKSPACE_DIR}/{name.removeprefix('./')}"
            if member.islnk():  # a hard link names another member: it moves too
                info.linkname = f"{WORKSPACE_DIR}/{member.linkname.strip('/')}"
            data = source.extractfile(member) if member.isreg() else None
            tar.addfile(info, data)
        end = tar.offset
        tar.close()
        out.truncate(end)


async def archive_stream(head: bytes, bodies: Sequence[Path]) -> AsyncIterator[bytes]:
    """``head``, then each body, then the end-of-archive blocks: one tar, in chunks."""
    yield head
    for body in bodies:
        with body.open("rb") as data:
            while chunk := await asyncio.to_thread(data.read, _CHUNK):
                yield chunk
    yield _END


@dataclass
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    body: Path | None = None
    users: int = 0


@dataclass
class BodyCache:
    """Bodies of workspace archives, made once per archive file and kept while in use
    and, of those not in use, the ``keep`` used last.

    An archive file is known by its device, inode, size and modification time, so an
    archive the worker keeps (one per source tree, say) is converted once, and a new
    file at the same path is not mistaken for the old one. Bodies are files in
    ``directory`` (None: the system temp dir), deleted when evicted and by
    :meth:`clear`.
    """

    directory: Path | None = None
    keep: int = 8
    _entries: OrderedDict[tuple[int, ...], _Entry] = field(default_factory=OrderedDict)

    @contextlib.asynccontextmanager
    async def bodies(self, archives: Sequence[Path]) -> AsyncIterator[list[Path]]:
        """The body of each archive, in order, not evicted before the block ends."""
        held: list[tuple[tuple[int, ...], _Entry]] = []
        try:
            paths = []
            for archive in archives:
                key, entry = await self._acquire(archive)
                held.append((key, entry))
                assert entry.body is not None
                paths.append(entry.body)
            yield paths
        finally:
            for key, entry in held:
                entry.users -= 1
                if key in self._entries:
                    self._entries.move_to_end(key)  # used last: evicted last
            self._evict()

    async def _acquire(self, archive: Path) -> tuple[tuple[int, ...], _Entry]:
        stat = await asyncio.to_thread(archive.stat)
        key = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        entry = self._entries.setdefault(key, _Entry())
        self._entries.move_to_end(key)
        entry.users += 1
        try:
            async with entry.lock:  # one conversion; the others wait for it
                if entry.body is None:
                    entry.body = await self._make(archive)
        except BaseException:
            entry.users -= 1
            if entry.body is None and not entry.users:
                self._entries.pop(key, None)
            raise
        return key, entry

    async def _make(self, archive: Path) -> Path:
        if self.directory is not None:
            await asyncio.to_thread(self.directory.mkdir, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="xxci-body-", suffix=".tar", dir=self.directory)
        os.close(fd)
        dest = Path(name)
        try:
            await asyncio.to_thread(write_body, archive, dest)
        except BaseException:
            dest.unlink(missing_ok=True)  # noqa: ASYNC240 (one unlink; a thread costs more)
            raise
        return dest

    def _evict(self) -> None:
        idle = [k for k, e in self._entries.items() if not e.users and e.body is not None]
        for key in idle[: max(0, len(idle) - self.keep)]:
            self._discard(key)

    def clear(self) -> None:
        """Delete every body not in use."""
        for key in [k for k, e in self._entries.items() if not e.users and e.body is not None]:
            self._discard(key)

    def _discard(self, key: tuple[int, ...]) -> None:
        entry = self._entries.pop(key)
        if entry.body is not None:
            entry.body.unlink(missing_ok=True)
