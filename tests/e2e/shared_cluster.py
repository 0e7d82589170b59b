"""End-to-end helpers for several `xxci server` processes on one PostgreSQL store, and
workers and clients given every address (``--server a,b``)."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.cluster import TOKEN, XXCI, free_port, wait_port
from xxci.cli.client.remote import GrpcClient
from xxci.common.events import JobAssigned, JobFinished, JobStarted, RecordedEvent


def check_jobs_ran_once(events: list[RecordedEvent], jobs: tuple[str, ...]) -> None:
    """Every job of the run ends SUCCESS once, no attempt is assigned twice, and the
    attempts of one job never overlap (each starts after the one before it ended)."""
    assigned = [(r.event.job, r.event.attempt) for r in events if isinstance(r.event, JobAssigned)]
    assert len(assigned) == len(set(assigned)), assigned
    for job in jobs:
        spans: dict[int, list[float]] = {}
        for r in events:
            if isinstance(r.event, JobStarted | JobFinished) and r.event.job == job:
                spans.setdefault(r.event.attempt, []).append(r.at.timestamp())
        ordered = sorted(spans.items())
        for (_, before), (_, after) in itertools.pairwise(ordered):
            assert len(before) == 2 and before[1] <= after[0], (job, ordered)
        ends = [
            r.event.status
            for r in events
            if isinstance(r.event, JobFinished) and r.event.job == job
        ]
        assert ends.count("SUCCESS") == 1, (job, ends)


@dataclass
class SharedCluster:
    """Servers ``0..n-1`` on the store at ``url``; workers by name."""

    tmp: Path
    url: str
    ports: list[int] = field(default_factory=list)
    servers: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def address(self, index: int) -> str:
        return f"127.0.0.1:{self.ports[index]}"

    def addresses(self, first: int = 0) -> str:
        """Every server's address, starting with server ``first``."""
        order = [*range(first, len(self.ports)), *range(first)]
        return ",".join(self.address(i) for i in order)

    def env(self, server: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            XXCI_SERVER=server,
            XXCI_TOKEN=TOKEN,
            XXCI_HOME=str(self.tmp / "home"),
            PYTHONUNBUFFERED="1",
            TERM="dumb",
        )
        env.pop("COLUMNS", None)
        return env

    def start_servers(self, count: int) -> None:
        self.ports = [free_port() for _ in range(count)]
        for index in range(count):
            self.start_server(index)

    def start_server(self, index: int) -> None:
        log = open(self.tmp / f"server-{index}.log", "ab")  # noqa: SIM115
        self.servers[index] = subprocess.Popen(
            [
                *XXCI,
                "server",
                "--listen",
                self.address(index),
                "--store",
                self.url,
                "--data-dir",
                str(self.tmp / f"data-{index}"),
                "--token",
                TOKEN,
                "--lease-ttl",
                "4",
                "--heartbeat",
                "0.5",
                "--cancel-grace",
                "2",
                "--member-ttl",
                "3",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env(self.address(index)),
        )
        wait_port(self.ports[index])

    def kill_server(self, index: int) -> None:
        """SIGKILL: no goodbye, the others must notice."""
        proc = self.servers.pop(index)
        proc.kill()
        proc.wait(10)

    def start_worker(self, name: str, first: int, capacity: int = 2) -> None:
        log = open(self.tmp / f"worker-{name}.log", "ab")  # noqa: SIM115
        args = [*XXCI, "worker", "--name", name, "--capacity", str(capacity)]
        # A new folder of the test's own each start (a new identity, as in a temporary
        # folder): a worker killed mid-job cannot remove its own.
        args += ["--work-dir", tempfile.mkdtemp(prefix=f"worker-{name}-", dir=self.tmp)]
        self.workers[name] = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=self.env(self.addresses(first))
        )

    def status(self, index: int) -> dict[str, Any]:
        async def fetch() -> dict[str, Any]:
            async with GrpcClient(self.address(index), TOKEN) as client:
                return await client.status()

        return asyncio.run(fetch())

    def wait_workers(self, index: int, names: set[str], timeout: float = 30.0) -> float:
        """Wait until server ``index`` has every one of ``names`` connected; seconds taken."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            connected = {w["name"] for w in self.status(index)["workers"]}
            if names <= connected:
                return time.monotonic() - started
            time.sleep(0.1)
        raise TimeoutError(f"workers {names} did not connect to server {index}:\n{self.logs()}")

    def popen(self, *args: str, cwd: Path, server: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*XXCI, *args],
            cwd=cwd,
            env=self.env(server),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def xxci(
        self, *args: str, server: str, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*XXCI, *args],
            cwd=self.tmp,
            env=self.env(server),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def logs(self) -> str:
        parts = []
        for path in sorted(self.tmp.glob("*.log")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        procs = [*self.workers.values(), *self.servers.values()]
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
