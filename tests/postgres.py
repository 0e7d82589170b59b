"""A throwaway PostgreSQL cluster for tests and benchmarks: ``initdb`` and ``pg_ctl`` in a
temp folder, listening on a free loopback port, no system service.

PostgreSQL refuses to run as root, so as root the cluster's folder is given to the
``postgres`` user (Debian's package creates it) and the server runs as that user.
Each test gets a database of its own (:meth:`PostgresCluster.new_database`), created
from ``template1`` in a few milliseconds.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

__all__ = ["PostgresCluster", "PostgresUnavailable", "find_bin_dir"]

_USER = "xxci"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started on this machine."""


def find_bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: on PATH, else Debian's newest version."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PostgresCluster:
    """One running cluster; :meth:`stop` removes it (server and files)."""

    def __init__(self, root: Path, port: int, bin_dir: Path, run_as: str | None) -> None:
        self.root = root
        self.port = port
        self._bin = bin_dir
        self._run_as = run_as
        self._names = itertools.count(1)

    @classmethod
    def start(cls, *, durable: bool = False) -> PostgresCluster:
        """Start a new cluster. ``durable``: fsync as a production server would (for
        benchmarks); off by default, which is faster and enough for tests.

        :class:`PostgresUnavailable` when there is no PostgreSQL to start.
        """
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise PostgresUnavailable("no initdb found (install Debian's postgresql package)")
        run_as = None
        root = Path(tempfile.mkdtemp(prefix="xxci-pg-"))
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(root)
                raise PostgresUnavailable("running as root and there is no postgres user") from None
            os.chown(root, account.pw_uid, account.pw_gid)
            run_as = "postgres"
        cluster = cls(root, _free_port(), bin_dir, run_as)
        try:
            cluster._init(durable)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            [str(self._bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            user=self._run_as,
            cwd=self.root,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PostgresUnavailable(
                f"{args[0]} failed ({result.returncode}): {result.stderr.strip()}\n{tail}"
            )

    def _init(self, durable: bool) -> None:
        data = self.root / "data"
        self._run("initdb", "-D", str(data), "-U", _USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-p {self.port}",
            f"-k {self.root}",
            "-c max_connections=300",
            "-c shared_buffers=64MB",
        ]
        if not durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            "pg_ctl",
            "-D",
            str(data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            " ".join(options),
            "-w",
            "-t",
            "60",
            "start",
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{_USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self, prefix: str = "t") -> str:
        """Create an empty database; returns its URL."""
        name = f"{prefix}{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server at once and remove its files. Safe to call twice."""
        data = self.root / "data"
        if (data / "postmaster.pid").exists():
            with contextlib.suppress(PostgresUnavailable, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
