"""One orchestrator per data directory: an exclusive lock, and where its holder listens.

An orchestrator holds an exclusive ``flock`` on ``orchestrator.lock`` in its data
directory for as long as it runs, and writes its pid into that file. The kernel drops
the lock when the process ends, however it ends, so the lock tells the truth about
whether an orchestrator runs there; the files only say who and where.

Once it listens, the holder publishes ``orchestrator.json`` (mode 0600): its pid, its
address, whether it is a local orchestrator (``--local``) and, for a local one only,
the one-time token of its loopback endpoint. A file left behind by a holder that
crashed is stale: it counts only while its pid is the one in the locked lock file, and
the next holder removes it as soon as it takes the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from xxci.common.errors import XxciError

__all__ = ["ENDPOINT_FILE", "LOCK_FILE", "DataDirInUse", "DataDirLock", "Endpoint", "Holder"]

LOCK_FILE = "orchestrator.lock"
ENDPOINT_FILE = "orchestrator.json"


@dataclass(frozen=True)
class Endpoint:
    """Where the orchestrator holding a data directory listens."""

    pid: int
    address: str
    local: bool
    token: str = ""


@dataclass(frozen=True)
class Holder:
    """The process holding a data directory's lock: its pid once it has written it,
    its endpoint once it has published one."""

    pid: int | None
    endpoint: Endpoint | None = None

    def describe(self) -> str:
        """``pid 42, xxci server listening on 127.0.0.1:7420`` and the like."""
        pid = f"pid {self.pid}" if self.pid else "pid unknown"
        if self.endpoint is None:
            return f"{pid}, not listening yet"
        kind = "a local orchestrator" if self.endpoint.local else "xxci server"
        return f"{pid}, {kind} listening on {self.endpoint.address}"


class DataDirInUse(XxciError):
    """Another orchestrator holds the data directory."""

    def __init__(self, data_dir: Path, holder: Holder) -> None:
        super().__init__(f"{data_dir} is in use by another orchestrator ({holder.describe()})")
        self.data_dir = data_dir
        self.holder = holder


class DataDirLock:
    """The exclusive lock on one data directory, held until :meth:`release`."""

    def __init__(self, data_dir: Path, fd: int) -> None:
        self.data_dir = data_dir
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, data_dir: Path) -> DataDirLock:
        """Take the lock, or raise :class:`DataDirInUse` naming who holds it."""
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirInUse(data_dir, read_holder(data_dir) or Holder(None)) from None
        except BaseException:
            os.close(fd)
            raise
        (data_dir / ENDPOINT_FILE).unlink(missing_ok=True)  # a crashed holder's
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(data_dir, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def publish(self, address: str, *, local: bool, token: str = "") -> Endpoint:
        """Write the endpoint file (atomically, readable by this user only)."""
        endpoint = Endpoint(os.getpid(), address, local, token if local else "")
        path = self.data_dir / ENDPOINT_FILE
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(
                {
                    "pid": endpoint.pid,
                    "address": endpoint.address,
                    "local": endpoint.local,
                    "token": endpoint.token,
                },
                out,
            )
        tmp.replace(path)
        return endpoint

    def release(self) -> None:
        """Withdraw the endpoint and let the lock go. Safe to call twice."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            with contextlib.suppress(OSError):
                (self.data_dir / ENDPOINT_FILE).unlink(missing_ok=True)
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the only descriptor drops the flock


def read_holder(data_dir: Path) -> Holder | None:
    """Who holds ``data_dir`` now: None when nobody does (the lock is free)."""
    try:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # held: read who holds it
        else:
            return None  # free (closing the descriptor lets it go)
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    finally:
        os.close(fd)
    pid = int(text) if text.isdigit() else None
    endpoint = _read_endpoint(data_dir / ENDPOINT_FILE)
    if endpoint is None or pid is None or endpoint.pid != pid:
        return Holder(pid)
    return Holder(pid, endpoint)


def _read_endpoint(path: Path) -> Endpoint | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return Endpoint(
            pid=int(doc["pid"]),
            address=str(doc["address"]),
            local=bool(doc["local"]),
            token=str(doc.get("token", "")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
