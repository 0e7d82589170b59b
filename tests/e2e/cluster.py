"""End-to-end helpers: a real `xxci server`, real `xxci worker` processes, a real git
repository, and the real CLI, all talking real gRPC on loopback; jobs run in the real
Docker engine with the local busybox test image."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xxci.cli.client.remote import GrpcClient
from xxci.common.events import RecordedEvent

XXCI = [sys.executable, "-m", "xxci.cli"]
TOKEN = "e2e-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


@dataclass
class Cluster:
    """A server and its workers, as separate processes."""

    tmp: Path
    port: int
    data_dir: Path
    server: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    http_port: int = 0
    """When set, the server serves the web view there too (``--http``)."""
    server_args: tuple[str, ...] = ()
    """More options for ``xxci server``."""

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            XXCI_SERVER=self.address,
            XXCI_TOKEN=TOKEN,
            XXCI_HOME=str(self.tmp / "home"),
            PYTHONUNBUFFERED="1",
            TERM="dumb",
        )
        env.pop("COLUMNS", None)
        return env

    def start_server(self) -> None:
        log = open(self.tmp / "server.log", "ab")  # noqa: SIM115 - lives with the process
        self.server = subprocess.Popen(
            [
                *XXCI,
                "server",
                "--listen",
                self.address,
                "--data-dir",
                str(self.data_dir),
                "--token",
                TOKEN,
                "--lease-ttl",
                "4",
                "--heartbeat",
                "0.5",
                "--cancel-grace",
                "2",
                *(["--http", f"127.0.0.1:{self.http_port}"] if self.http_port else []),
                *self.server_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        wait_port(self.port)
        if self.http_port:
            wait_port(self.http_port)

    def kill_server(self) -> None:
        assert self.server is not None
        self.server.kill()
        self.server.wait(10)
        self.server = None

    def start_worker(
        self,
        name: str,
        capacity: int = 2,
        labels: tuple[str, ...] = (),
        *,
        work_dir: Path | None = None,
        register: bool = False,
    ) -> None:
        """Start ``xxci worker`` (in a new work dir under the test's folder unless
        ``work_dir`` is given: a new identity each start); its output goes to
        ``worker-NAME.log``."""
        log = open(self.tmp / f"worker-{name}.log", "ab")  # noqa: SIM115
        args = [*XXCI, "worker", "--name", name, "--capacity", str(capacity)]
        # A new folder of the test's own each start (a new identity, as in a temporary
        # folder): a worker killed mid-job cannot remove its own.
        args += ["--work-dir", tempfile.mkdtemp(prefix=f"worker-{name}-", dir=self.tmp)]
        for label in labels:
            args += ["--label", label]
        if work_dir is not None:
            args += ["--work-dir", str(work_dir)]
        if register:
            args.append("--register")
        self.workers.append(
            subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        )

    def wait_workers(self, count: int, timeout: float = 20.0) -> None:
        async def connected() -> int:
            async with GrpcClient(self.address, TOKEN) as client:
                return len((await client.status())["workers"])

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if asyncio.run(connected()) >= count:
                return
            time.sleep(0.2)
        raise TimeoutError(f"{count} workers did not connect:\n{self.logs()}")

    def xxci(
        self,
        *args: str,
        cwd: Path | None = None,
        check: bool = False,
        timeout: float = 120,
        input_text: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*XXCI, *args],
            cwd=cwd or self.tmp,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
            input=input_text,
            stdin=None if input_text is not None else subprocess.DEVNULL,
        )

    def popen(self, *args: str, cwd: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*XXCI, *args],
            cwd=cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def report(self, run_id: str) -> dict[str, Any]:
        """The run's report, straight from the server's GetRun."""

        async def fetch() -> dict[str, Any]:
            async with GrpcClient(self.address, TOKEN) as client:
                return await client.run_report(run_id)

        return asyncio.run(fetch())

    def events(self, run_id: str) -> list[RecordedEvent]:
        async def fetch() -> list[RecordedEvent]:
            async with GrpcClient(self.address, TOKEN) as client:
                return [r async for r in client.events(run_id)]

        return asyncio.run(fetch())

    def logs(self) -> str:
        parts = []
        for path in sorted(self.tmp.glob("*.log")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        for proc in [*self.workers, self.server]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, self.server]:
            if proc is not None:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


def make_repo(root: Path, pipelines: dict[str, str], files: dict[str, str] | None = None) -> Path:
    """A git repository with ``.pipelines/<name>`` files and other files, committed."""
    root.mkdir(parents=True, exist_ok=True)
    (root / ".pipelines").mkdir(exist_ok=True)
    for name, text in pipelines.items():
        (root / ".pipelines" / name).write_text(text)
    for name, text in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "initial"], check=True)
    return root


def run_id_of(output: str) -> str:
    """The run id from `xxci run`'s first line: ``run <id>: pipeline ...``."""
    for line in output.splitlines():
        if line.startswith("run ") and ":" in line:
            return line.split()[1].rstrip(":")
    raise AssertionError(f"no run id in output:\n{output}")
