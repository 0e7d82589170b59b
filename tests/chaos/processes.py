"""The processes the chaos test kills: an ``xxci server`` and ``xxci worker``\\ s, each
worker reaching the server through its own relay (a TCP proxy that can drop its
connections), all started, signalled and restarted by the test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.orchestrator.harness import Link

__all__ = ["TOKEN", "XXCI", "Process", "free_port", "wait_port"]

XXCI = [sys.executable, "-m", "xxci.cli"]
TOKEN = "chaos-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def wait_port(port: int, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    """Wait until something accepts connections on ``port``."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return


@dataclass(eq=False)
class Process:
    """One xxci process (``args`` after ``xxci``), its output appended to ``log``; a
    worker has the ``link`` it reaches the server through."""

    name: str
    args: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    link: Link | None = None
    proc: asyncio.subprocess.Process | None = None
    starts: int = 0

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            out.write(f"--- start {self.starts + 1}\n".encode())
            self.proc = await asyncio.create_subprocess_exec(
                *XXCI, *self.args, stdout=out, stderr=asyncio.subprocess.STDOUT, env=self.env
            )
        self.starts += 1

    def signal(self, sig: signal.Signals) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(sig)

    async def wait(self, timeout: float = 60.0) -> int | None:  # noqa: ASYNC109
        """Wait for the process to end (killing it after ``timeout``); its exit code."""
        if self.proc is None:
            return None
        try:
            async with asyncio.timeout(timeout):
                return await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            return await self.proc.wait()

    async def stop(self) -> None:
        """SIGTERM (a worker drains), then wait."""
        self.signal(signal.SIGTERM)
        await self.wait()

    def tail(self, chars: int = 3000) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} ({self.log})\n{text[-chars:]}"
