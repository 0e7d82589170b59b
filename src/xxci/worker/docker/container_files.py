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
import functools
import io
import os
import tarfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from xxci.common.archives import open_archive
from xxci.common.file_cache import FileCache

__all__ = ["WORKSPACE_DIR", "BodyCache", "archive_stream", "header", "write_body"]

WORKSPACE_DIR = "workspace"
_END = bytes(2 * tarfile.BLOCKSIZE)
_CHUNK = 256 * 1024


def header(
    script: tuple[str, bytes] | None = None, files: Sequence[tuple[str, bytes]] = ()
) -> bytes:
    """The first members: the ``workspace/`` folder and, when given, the job script and
    other private ``files`` as ``(path, bytes)`` (mode 0600, in 0700 folders). No
    end-of-archive blocks."""
    buffer = io.BytesIO()
    tar = tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115
    private = [*([script] if script is not None else []), *files]
    folders = [(WORKSPACE_DIR, 0o755)]
    for folder in dict.fromkeys(os.path.dirname(path.strip("/")) for path, _ in private):
        folders.append((folder, 0o700))
    for name, mode in folders:
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE
        info.mode = mode
        tar.addfile(info)
    for path, data in private:
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


class BodyCache:
    """Bodies of workspace archives, made once per archive file (see
    :class:`~xxci.common.file_cache.FileCache` for what is kept, and ``directory``).

    An archive file is known by its device, inode, size and modification time, so an
    archive the worker keeps (one per source tree, say) is converted once, and a new
    file at the same path is not mistaken for the old one.
    """

    def __init__(self, directory: Path | None = None, keep: int = 8) -> None:
        self._files: FileCache[tuple[int, ...]] = FileCache(directory, keep, suffix=".tar")

    @contextlib.asynccontextmanager
    async def bodies(self, archives: Sequence[Path]) -> AsyncIterator[list[Path]]:
        """The body of each archive, in order, not deleted before the block ends."""
        wanted = []
        for archive in archives:
            stat = await asyncio.to_thread(archive.stat)
            key = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
            wanted.append((key, functools.partial(_make_body, archive)))
        async with self._files.using(wanted) as bodies:
            yield bodies

    def clear(self) -> None:
        """Delete every body not in use."""
        self._files.clear()


async def _make_body(archive: Path, dest: Path) -> None:
    await asyncio.to_thread(write_body, archive, dest)
