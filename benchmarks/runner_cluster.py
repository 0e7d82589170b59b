"""One ``xxci server`` and two ``xxci worker`` processes on loopback, for the benchmarks.

Started before the timed runs and stopped after them, the way a real installation
keeps them running: what a run pays is the client's start-up and the work itself.
"""

from __future__ import annotations

import re
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

_READY_SECONDS = 60.0


@dataclass
class Cluster:
    address: str
    token: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def start(cls, xxci: Path, root: Path, capacity: int, workers: int = 2) -> Cluster:
        """The server on a free loopback port, then ``workers`` workers, each connected."""
        root.mkdir(parents=True)
        token = secrets.token_urlsafe(16)
        cluster = cls("", token)
        try:
            server_log = root / "server.log"
            cluster._spawn(
                [str(xxci), "server", "--listen", "127.0.0.1:0", "--data-dir",
                 str(root / "data"), "--token", token],
                server_log,
            )  # fmt: skip
            port = _wait_for(server_log, re.compile(r"\(port (\d+)\)"), cluster.processes[0])
            cluster.address = f"127.0.0.1:{port}"
            for i in range(workers):
                log = root / f"worker{i}.log"
                cluster._spawn(
                    [str(xxci), "worker", "--server", cluster.address, "--token", token,
                     "--name", f"bench{i}", "--capacity", str(capacity),
                     "--work-dir", str(root / f"work{i}")],
                    log,
                )  # fmt: skip
                _wait_for(log, re.compile(r"connected to "), cluster.processes[-1])
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _spawn(self, argv: list[str], log: Path) -> None:
        with log.open("wb") as out:
            self.processes.append(
                subprocess.Popen(
                    argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                )
            )

    def stop(self) -> None:
        """Workers first (they drain), then the server; kill what does not exit."""
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()


def _wait_for(log: Path, pattern: re.Pattern[str], process: subprocess.Popen[bytes]) -> str:
    """The first group of ``pattern`` (or the match) once it shows in ``log``."""
    deadline = time.monotonic() + _READY_SECONDS
    while time.monotonic() < deadline:
        found = pattern.search(log.read_text(errors="replace"))
        if found:
            return found.group(1) if pattern.groups else found.group(0)
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited {process.returncode}: {log.read_text()}")
        time.sleep(0.05)
    raise RuntimeError(f"{process.args!r} not ready after {_READY_SECONDS:.0f}s: {log.read_text()}")
