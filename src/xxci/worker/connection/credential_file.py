"""Where a worker keeps its credential: one small file in its work dir, mode 0600.

The file is JSON, ``{"server": "HOST:PORT", "worker_id": "...", "credential":
"xxci-worker.<id>.<secret>"}``, written whole or not at all (a temporary file renamed
over it). Like an SSH key, a credential file others may read is refused rather than
used: anyone who read it could connect as this worker.

One worker process per credential: :class:`CredentialLock` holds an exclusive
``flock`` beside the file while the worker runs. Two processes on one identity would
take each other's stream turn by turn (the newest connection wins), so the second is
refused at start instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
from pathlib import Path

from xxci.common.credentials import WorkerCredential
from xxci.common.errors import UsageError

__all__ = ["CREDENTIAL_FILE", "CredentialLock", "load_credential", "save_credential"]

CREDENTIAL_FILE = "worker-credential"
FILE_MODE = 0o600


def load_credential(path: Path) -> WorkerCredential | None:
    """The credential saved at ``path``; None if there is none. UsageError for a file
    that others may read, or that does not hold a credential."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise UsageError(f"cannot read the worker credential {path}: {err.strerror}") from err
    with os.fdopen(fd, "rb") as file:
        mode = stat.S_IMODE(os.fstat(file.fileno()).st_mode)
        if mode & 0o077:
            raise UsageError(
                f"the worker credential {path} may be read by others (mode {mode:04o}):"
                f" chmod 600 it, or pass --register to replace it"
            )
        text = file.read(64 * 1024)
    try:
        doc = json.loads(text)
        credential = WorkerCredential.parse(str(doc["credential"]))
    except (ValueError, KeyError, TypeError):
        credential = None
    if credential is None:
        raise UsageError(f"{path} does not hold a worker credential: remove it, or pass --register")
    return credential


def save_credential(path: Path, credential: WorkerCredential, server: str) -> None:
    """Write ``credential`` (got from ``server``) to ``path``, mode 0600, atomically."""
    doc = {"server": server, "worker_id": credential.worker_id, "credential": credential.bearer}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), FILE_MODE)  # whatever the umask, or a file left before
            json.dump(doc, file)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class CredentialLock:
    """This process's claim on a credential file; :meth:`release` (or process exit)
    lets it go."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, credential_file: Path) -> CredentialLock:
        """Take the lock; UsageError (naming the holder's pid) if another worker has it."""
        path = credential_file.with_name(credential_file.name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise UsageError(
                f"another worker (pid {holder}) uses the credential {credential_file}:"
                " give each worker its own --work-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(fd)

    def release(self) -> None:
        """Let the credential go (idempotent)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)
