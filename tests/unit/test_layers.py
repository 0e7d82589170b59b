"""The layers hold: each package imports only what its layer may.

Read from the source with ``ast`` (imports inside functions count too), so a lazy
import cannot slip past. The rules, inner layers first:

- ``common``: the pipeline spec, events, statuses, errors, the wire types. Nothing of
  the orchestrator, the worker or the CLI.
- ``orchestrator.domain``: pure decisions. No I/O library, no wire types, no other
  orchestrator layer.
- ``orchestrator.store``: the event log and its tables. No runtime, views or rpc.
  PostgreSQL (psycopg) only in its backend, ``orchestrator.store.postgres``.
- ``orchestrator.views``: read models over the store. No runtime or rpc.
- ``orchestrator.runtime``: the live orchestrator (run book, hub). No rpc, no gRPC, no
  protobuf: it queues domain commands, which ``rpc`` converts.
- ``orchestrator.application``: the application service, what clients may ask. No rpc,
  no gRPC.
- ``orchestrator.rpc``: the gRPC edge. Imported by nothing but the wiring.
- ``orchestrator.web``: the HTTP edge (pages, JSON API, live feeds), beside rpc: it
  reads through views and runtime, never the stores directly, never rpc. Imported by
  nothing but the wiring.
- ``cli``: talks to an orchestrator through the API (``common.api``) only: nothing of
  the store, runtime, application service or worker, except the wiring that starts
  an orchestrator (``cli.commands.server``, ``cli.client.local``) or a worker
  (``cli.commands.worker``, ``cli.client.local``), and ``cli.commands.store``, which
  opens the stores to copy them.
- ``worker``: nothing of the orchestrator or the CLI.
- ``worker.executor``: the executor contract; nothing of the rest of the worker.
- ``worker.docker``: the Docker executor; the contract, no wire, nothing of the
  connection to the orchestrator.
- ``worker.attempt``: one attempt; the contract, no wire, no executor of its own.
- ``worker.connection``: the link to the orchestrator; protobuf only in the stream
  (``session``), the converter (``wire``), the blob and cache clients and the
  registration call (``registration``), gRPC only there and where the channel opens
  (``agent``).
"""

from __future__ import annotations

import ast
import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

IO_LIBRARIES = (
    "grpc",
    "grpc.*",
    "aiosqlite",
    "sqlite3",
    "aiodocker",
    "aiohttp",
    "asyncio",
    "pebble",
)
WIRE = (
    "grpc",
    "grpc.*",
    "xxci.common.pb*",
    "xxci.common.auth",
    "xxci.common.convert",
    "xxci.common.blobs",
)
"""gRPC and the protobuf types, and the modules that convert to and from them or call
over them."""
CLI_WIRING = (
    "xxci.cli.commands.server",
    "xxci.cli.commands.worker",
    "xxci.cli.client.local",
    "xxci.cli.commands.store",
)
"""The CLI modules that start an orchestrator or a worker in the CLI's process (or, for
``xxci store``, open the stores themselves)."""


@dataclass(frozen=True)
class Rule:
    """Modules matching ``modules`` (except those matching ``allowed``) must not import
    anything matching ``forbidden`` (except what matches ``allowed_imports``)."""

    modules: str
    forbidden: tuple[str, ...]
    why: str
    allowed: tuple[str, ...] = ()
    allowed_imports: tuple[str, ...] = ()

    def breaks(self, module: str, imported: str) -> bool:
        """Whether ``module`` importing ``imported`` breaks this rule."""
        if not matches(module, self.modules) or matches(module, self.allowed):
            return False
        return matches(imported, self.forbidden) and not matches(imported, self.allowed_imports)


RULES = [
    Rule(
        "xxci.common*",
        ("xxci.orchestrator*", "xxci.worker*", "xxci.cli*"),
        "common is shared by every side and depends on none of them",
    ),
    Rule(
        "xxci.orchestrator.domain*",
        (
            *IO_LIBRARIES,
            "xxci.common.pb*",
            "xxci.common.auth",
            "xxci.common.convert",
            "xxci.orchestrator.store*",
            "xxci.orchestrator.views*",
            "xxci.orchestrator.runtime*",
            "xxci.orchestrator.rpc*",
            "xxci.worker*",
            "xxci.cli*",
        ),
        "the domain is pure: decisions are functions of state",
    ),
    Rule(
        "xxci.orchestrator.store*",
        (
            "grpc*",
            "xxci.common.pb*",
            "xxci.orchestrator.views*",
            "xxci.orchestrator.runtime*",
            "xxci.orchestrator.rpc*",
            "xxci.worker*",
            "xxci.cli*",
        ),
        "the store keeps events and bytes; it knows no runtime or wire",
    ),
    Rule(
        "xxci.*",
        ("psycopg*",),
        "only the PostgreSQL backend speaks to PostgreSQL; the rest uses the storage port",
        allowed=("xxci.orchestrator.store.postgres*",),
    ),
    Rule(
        "xxci.orchestrator.views*",
        (
            "grpc*",
            "xxci.common.pb*",
            "xxci.orchestrator.runtime*",
            "xxci.orchestrator.rpc*",
            "xxci.worker*",
            "xxci.cli*",
        ),
        "views read the store; they do not drive runs or speak the wire",
    ),
    Rule(
        "xxci.orchestrator.runtime*",
        (
            "grpc*",
            "xxci.common.pb*",
            "xxci.common.convert",
            "xxci.orchestrator.rpc*",
            "xxci.worker*",
            "xxci.cli*",
        ),
        "the runtime is served by rpc and speaks in domain values; only rpc knows the wire",
    ),
    Rule(
        "xxci.orchestrator.application*",
        (*WIRE, "xxci.orchestrator.rpc*", "xxci.worker*", "xxci.cli*"),
        "the application service is what clients may ask; rpc serves it, not the reverse",
    ),
    Rule(
        "xxci.orchestrator.runtime*",
        ("xxci.orchestrator.application*",),
        "the application service drives the runtime, never the other way round",
    ),
    Rule(
        "xxci.cli*",
        (
            "xxci.orchestrator.store*",
            "xxci.orchestrator.runtime*",
            "xxci.orchestrator.application*",
            "xxci.worker*",
            "aiosqlite",
            "sqlite3",
            "aiodocker",
        ),
        "the CLI talks to an orchestrator through the API; only the wiring starts one",
        allowed=CLI_WIRING,
    ),
    Rule(
        "xxci.orchestrator.rpc*",
        ("xxci.worker*", "xxci.cli*"),
        "the orchestrator's edge serves workers and clients; it does not import them",
    ),
    Rule(
        "xxci.*",
        ("xxci.orchestrator.rpc*",),
        "only the wiring starts a gRPC server",
        allowed=("xxci.orchestrator.rpc*", "xxci.cli.commands.server", "xxci.cli.client.local"),
    ),
    Rule(
        "xxci.orchestrator.web*",
        (
            "grpc*",
            "xxci.common.pb*",
            "xxci.orchestrator.rpc*",
            "xxci.orchestrator.store*",
            "xxci.worker*",
            "xxci.cli*",
        ),
        "the web edge reads through views and runtime; it knows no wire and no store",
    ),
    Rule(
        "xxci.*",
        ("xxci.orchestrator.web*",),
        "only the wiring serves the web view",
        allowed=("xxci.orchestrator.web*", "xxci.cli.commands.server", "xxci.cli.commands.web"),
    ),
    Rule(
        "xxci.worker*",
        ("xxci.orchestrator*", "xxci.cli*"),
        "a worker talks to the orchestrator over the wire only",
    ),
    Rule(
        "xxci.worker.executor",
        (*WIRE, "xxci.worker.*"),
        "the executor contract is plain values and protocols, known to every side",
    ),
    Rule(
        "xxci.worker.docker*",
        (*WIRE, "xxci.worker.*"),
        "the Docker executor runs a job: it knows the executor contract, not the orchestrator",
        allowed_imports=("xxci.worker.executor*", "xxci.worker.docker*"),
    ),
    Rule(
        "xxci.worker.attempt*",
        (*WIRE, "xxci.worker.*"),
        "an attempt deals in plain values: the connection hands it its assignment and a "
        "blob store, and puts its messages on the wire",
        allowed_imports=("xxci.worker.executor*", "xxci.worker.attempt*"),
    ),
    Rule(
        "xxci.worker.connection*",
        ("xxci.common.pb*", "xxci.common.convert"),
        "protobuf stops at the stream and its one converter",
        allowed=(
            "xxci.worker.connection.wire",
            "xxci.worker.connection.session",
            "xxci.worker.connection.blob_client",
            "xxci.worker.connection.registration",
            "xxci.worker.connection.cache_client",
        ),
    ),
    Rule(
        "xxci.worker.connection*",
        ("grpc", "grpc.*", "xxci.common.auth", "xxci.common.blobs"),
        "gRPC stops at the channel, the stream and the blob and cache clients",
        allowed=(
            "xxci.worker.connection.agent",
            "xxci.worker.connection.session",
            "xxci.worker.connection.blob_client",
            "xxci.worker.connection.registration",
            "xxci.worker.connection.cache_client",
        ),
    ),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, module: str) -> Iterator[tuple[int, str]]:
    """Every module ``path`` imports, with the line (relative imports resolved)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield node.lineno, base
            for alias in node.names:  # `from pkg import module`
                yield node.lineno, f"{base}.{alias.name}"


def sources() -> list[Path]:
    return sorted(p for p in (SRC / "xxci").rglob("*.py") if "pb" not in p.parts)


def matches(name: str, patterns: tuple[str, ...] | str) -> bool:
    if isinstance(patterns, str):
        patterns = (patterns,)
    return any(fnmatch.fnmatchcase(name, p) or name == p.rstrip("*") for p in patterns)


def violations() -> list[str]:
    found: list[str] = []
    for path in sources():
        module = module_name(path)
        for rule in RULES:
            for line, imported in imports_of(path, module):
                if rule.breaks(module, imported):
                    where = path.relative_to(SRC.parent)
                    found.append(f"{where}:{line}: {module} imports {imported}: {rule.why}")
    return sorted(set(found))


def test_the_layers_hold() -> None:
    assert violations() == []


@pytest.mark.parametrize(
    ("module", "imported"),
    [
        ("xxci.orchestrator.domain.scheduler", "xxci.orchestrator.store"),
        ("xxci.orchestrator.domain.state", "aiosqlite"),
        ("xxci.orchestrator.views.status", "xxci.orchestrator.rpc.server"),
        ("xxci.orchestrator.runtime.hub", "xxci.common.pb.v1.worker_pb2"),
        ("xxci.orchestrator.runtime.sessions", "xxci.common.convert"),
        ("xxci.worker.connection.agent", "xxci.orchestrator.domain.state"),
        ("xxci.common.events", "xxci.cli.options"),
        ("xxci.worker.executor", "xxci.worker.docker.executor"),
        ("xxci.worker.docker.supervisor", "grpc"),
        ("xxci.worker.docker.output", "xxci.common.pb.v1.worker_pb2"),
        ("xxci.worker.docker.executor", "xxci.worker.connection.agent"),
        ("xxci.worker.attempt.runner", "grpc.aio"),
        ("xxci.worker.attempt.runner", "xxci.common.pb.v1.worker_pb2"),
        ("xxci.worker.attempt.runner", "xxci.common.blobs"),
        ("xxci.worker.attempt.runner", "xxci.worker.connection.outbox"),
        ("xxci.worker.attempt.runner", "xxci.worker.docker.executor"),
        ("xxci.worker.connection.outbox", "xxci.common.pb.v1.worker_pb2"),
        ("xxci.worker.connection.attempts", "xxci.common.convert"),
        ("xxci.worker.connection.agent", "xxci.common.pb.v1.worker_pb2"),
        ("xxci.worker.connection.stopping", "grpc"),
        ("xxci.orchestrator.web.pages", "xxci.orchestrator.rpc.pipeline_service"),
        ("xxci.orchestrator.web.reads", "xxci.orchestrator.store"),
        ("xxci.orchestrator.rpc.server", "xxci.orchestrator.web.app"),
        ("xxci.orchestrator.runtime.orchestrator", "xxci.orchestrator.web"),
        ("xxci.orchestrator.application.service", "grpc"),
        ("xxci.orchestrator.application.service", "xxci.orchestrator.rpc.server"),
        ("xxci.orchestrator.runtime.orchestrator", "xxci.orchestrator.application"),
        ("xxci.cli.commands.cancel", "xxci.orchestrator.store"),
        ("xxci.cli.commands.status", "xxci.orchestrator.runtime.orchestrator"),
        ("xxci.cli.commands.run", "xxci.worker.connection.agent"),
        ("xxci.cli.client.remote", "xxci.orchestrator.application"),
        ("xxci.cli.display.progress", "aiosqlite"),
        ("xxci.cli.commands.run", "xxci.orchestrator.rpc.server"),
    ],
)
def test_a_wrong_import_is_caught(module: str, imported: str) -> None:
    broken = [rule for rule in RULES if rule.breaks(module, imported)]
    assert broken, f"{module} importing {imported} should break a rule"
