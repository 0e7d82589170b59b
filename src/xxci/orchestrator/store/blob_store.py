"""Content-addressed blobs on disk: source trees and artifacts.

A blob is named by the SHA-256 of its bytes, ``sha256:<64 lowercase hex>``, and lives
at ``<root>/sha256/<first 2 hex>/<other 62 hex>``. Anything else given as a digest is
rejected with ValueError before it comes near the filesystem (no path traversal).

Writes go to a temp file under ``<root>/tmp`` (same filesystem), are fsynced, verified
and then renamed into place, and the rename is fsynced too: a blob is either complete
under its final name or absent, even after a crash, and it is durable before any event
that names it. Identical content is stored once. All disk work runs in worker threads,
never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import tempfile
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import anyio

from xxci.common.errors import NotFoundError

__all__ = [
    "CHUNK_SIZE",
    "BlobRef",
    "BlobStore",
    "BlobTooLargeError",
    "BlobWriter",
    "DigestMismatchError",
    "parse_digest",
]

CHUNK_SIZE = 256 * 1024
_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")


def parse_digest(digest: str) -> str:
    """The hex part of a well-formed ``sha256:<hex>`` digest; ValueError otherwise."""
    match = _DIGEST.fullmatch(digest)
    if match is None:
        raise ValueError(f"invalid blob digest {digest!r}: expected sha256:<64 lowercase hex>")
    return match.group(1)


@dataclass(frozen=True)
class BlobRef:
    """A stored blob: its digest and its size in bytes."""

    digest: str
    size: int


class DigestMismatchError(ValueError):
    """The uploaded bytes do not hash to the digest the uploader announced."""


class BlobTooLargeError(ValueError):
    """An upload went past the size limit its writer was opened with."""


class BlobStore:
    """Blobs under ``root`` (created on first write)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"

    def path(self, digest: str) -> Path:
        """Where the blob ``digest`` is (or would be) stored. ValueError if malformed."""
        hex_digest = parse_digest(digest)
        return self.root / "sha256" / hex_digest[:2] / hex_digest[2:]

    def exists(self, digest: str) -> bool:
        """Whether the blob is stored (one ``stat``: cheap enough for the event loop)."""
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        """Size in bytes; NotFoundError if the blob is not stored (one ``stat``)."""
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise NotFoundError(f"no blob {digest}") from None

    async def stat(self, digest: str) -> BlobRef | None:
        """The stored blob's digest and size; None if it is not stored."""
        try:
            return BlobRef(digest, self.size(digest))
        except NotFoundError:
            return None

    @contextlib.asynccontextmanager
    async def local_copy(self, digest: str) -> AsyncIterator[Path]:
        """The blob as a local file (here: the stored file itself; do not change it)."""
        if not self.exists(digest):
            raise NotFoundError(f"no blob {digest}")
        yield self.path(digest)

    async def close(self) -> None:
        """Nothing to close: files are opened per call."""

    async def remove(self, digest: str) -> bool:
        """Delete blob ``digest``; False if there was none. Only for stores whose
        blobs are referenced from one place (the cache archives)."""
        path = self.path(digest)
        try:
            await asyncio.to_thread(path.unlink)
        except FileNotFoundError:
            return False
        return True

    async def put_bytes(self, data: bytes) -> BlobRef:
        return await asyncio.to_thread(self._put_bytes, data)

    async def put_file(self, path: Path) -> BlobRef:
        """Store a copy of the file at ``path``."""
        return await asyncio.to_thread(self._put_file, path)

    def open_writer(self, max_size: int | None = None) -> BlobWriter:
        """Start an incremental upload (its temp file appears on the first write). Use
        as ``async with store.open_writer() as w`` so an uncommitted upload is removed."""
        return BlobWriter(self._new_upload(), max_size)

    async def open_reader(self, digest: str) -> anyio.AsyncFile[bytes]:
        """The blob opened for async reading; NotFoundError if it is not stored."""
        path = self.path(digest)
        try:
            return await anyio.open_file(path, "rb")
        except FileNotFoundError:
            raise NotFoundError(f"no blob {digest}") from None

    async def read_chunks(
        self, digest: str, chunk_size: int = CHUNK_SIZE
    ) -> AsyncGenerator[bytes, None]:
        """The blob's bytes in chunks of at most ``chunk_size``.

        Errors (malformed digest, missing blob) surface on the first iteration. Wrap
        in ``contextlib.aclosing`` when you may stop early, so the file closes promptly.
        """
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        async with await self.open_reader(digest) as reader:
            while chunk := await reader.read(chunk_size):
                yield chunk

    async def remove_stale_uploads(self, older_than_seconds: float = 3600.0) -> int:
        """Delete temp files of uploads abandoned by a crash; returns how many."""
        return await asyncio.to_thread(self._remove_stale_uploads, older_than_seconds)

    # --- blocking helpers (run in threads) ------------------------------------------

    def _put_bytes(self, data: bytes) -> BlobRef:
        upload = self._new_upload()
        try:
            upload.write(data)
            return upload.commit(None)
        finally:
            upload.abort()

    def _put_file(self, path: Path) -> BlobRef:
        with path.open("rb") as source:
            upload = self._new_upload()
            try:
                while chunk := source.read(CHUNK_SIZE):
                    upload.write(chunk)
                return upload.commit(None)
            finally:
                upload.abort()

    def _new_upload(self) -> _Upload:
        return _Upload(self._tmp, self.path)

    def _remove_stale_uploads(self, older_than_seconds: float) -> int:
        if not self._tmp.is_dir():
            return 0
        cutoff = time.time() - older_than_seconds
        removed = 0
        for entry in self._tmp.iterdir():
            try:
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        return removed


class BlobWriter:
    """An upload in progress: ``write`` chunks, then ``commit``; ``abort`` discards it.

    As an async context manager it aborts on exit unless committed, so an error or a
    cancellation never leaves a temp file behind.
    """

    def __init__(self, upload: _Upload, max_size: int | None) -> None:
        self._upload = upload
        self._max_size = max_size

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._upload.size

    async def write(self, data: bytes) -> None:
        """Append ``data``; BlobTooLargeError (and the upload aborted) past ``max_size``."""
        if self._max_size is not None and self._upload.size + len(data) > self._max_size:
            await self.abort()
            raise BlobTooLargeError(f"blob larger than {self._max_size} bytes")
        await asyncio.to_thread(self._upload.write, data)

    async def commit(self, expected_digest: str | None = None) -> BlobRef:
        """Finish the upload and store it under its digest.

        With ``expected_digest``, the bytes must hash to it, else DigestMismatchError
        and nothing is stored. On any error the upload is aborted.
        """
        if expected_digest is not None:
            parse_digest(expected_digest)
        try:
            return await asyncio.to_thread(self._upload.commit, expected_digest)
        except BaseException:
            await self.abort()
            raise

    async def abort(self) -> None:
        """Discard the upload (no-op after ``commit`` or a previous ``abort``)."""
        await asyncio.to_thread(self._upload.abort)

    async def __aenter__(self) -> BlobWriter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.abort()


class _Upload:
    """A temp file being written and hashed, created on first use. Thread-safe: a write
    still running in a thread after its caller was cancelled finishes before ``abort``
    closes the file."""

    def __init__(self, tmp_dir: Path, final_path: Callable[[str], Path]) -> None:
        self._tmp_dir = tmp_dir
        self._final_path = final_path
        self._temp: tuple[BinaryIO, Path] | None = None
        self._finished = False
        self._hash = hashlib.sha256()
        self._lock = threading.Lock()
        self.size = 0

    def write(self, data: bytes) -> None:
        with self._lock:
            file, _ = self._open_temp()
            file.write(data)
            self._hash.update(data)
            self.size += len(data)

    def commit(self, expected_digest: str | None) -> BlobRef:
        with self._lock:
            file, temp = self._open_temp()
            self._finished = True
            self._temp = None
            try:
                file.flush()
                os.fsync(file.fileno())
            finally:
                file.close()
            moved = False
            try:
                digest = f"sha256:{self._hash.hexdigest()}"
                if expected_digest is not None and digest != expected_digest:
                    raise DigestMismatchError(f"upload hashes to {digest}, not {expected_digest}")
                final = self._final_path(digest)
                if not final.exists():  # else: stored already, identical by definition
                    created = not final.parent.is_dir()
                    final.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(temp, final)
                    moved = True
                    _fsync_dir(final.parent)
                    if created:
                        _fsync_dir(final.parent.parent)
                return BlobRef(digest, self.size)
            finally:
                if not moved:
                    temp.unlink(missing_ok=True)

    def abort(self) -> None:
        with self._lock:
            self._finished = True
            if self._temp is not None:
                file, temp = self._temp
                self._temp = None
                file.close()
                temp.unlink(missing_ok=True)

    def _open_temp(self) -> tuple[BinaryIO, Path]:
        if self._finished:
            raise RuntimeError("upload already committed or aborted")
        if self._temp is None:
            self._tmp_dir.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self._tmp_dir, prefix="upload-")
            self._temp = (os.fdopen(fd, "wb"), Path(name))
        return self._temp


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
