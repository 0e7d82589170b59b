"""The stream's own messages as plain values: Hello out; Welcome, Assign, Cancel and
Ack in. :mod:`xxci.worker.connection.wire` converts them; an attempt's messages are
in :mod:`xxci.worker.attempt.messages`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from xxci.common.attempts import AttemptKey
from xxci.worker.executor import Assignment

__all__ = ["Ack", "Assign", "AssignmentError", "Cancel", "Command", "Hello", "Welcome"]


class AssignmentError(ValueError):
    """An assignment the worker cannot run as sent; the text is the Reject reason."""


@dataclass(frozen=True)
class Hello:
    """How a worker opens a stream: who it is, and which attempts it still holds
    (running, or with a result not yet sent). ``worker_id`` is the id the last Welcome
    gave it ("" the first time)."""

    name: str
    capacity: int
    labels: tuple[str, ...]
    version: str
    running: tuple[AttemptKey, ...]
    worker_id: str
    sent_at: datetime | None = None
    """This worker's wall clock as the Hello goes out."""


@dataclass(frozen=True)
class Welcome:
    """The answer to Hello: the worker's id, and how often to heartbeat (0: the
    worker's default) within what lease."""

    worker_id: str
    heartbeat_interval_seconds: float
    lease_ttl_seconds: float


@dataclass(frozen=True)
class Assign:
    """Run attempt ``key``: ``assignment`` says what, or why it cannot be run."""

    key: AttemptKey
    assignment: Assignment | AssignmentError


@dataclass(frozen=True)
class Cancel:
    """Stop attempt ``key``, within ``grace_seconds`` (None: the worker's default). A
    ``revoke`` says it is no longer this worker's: kill it at once, no grace."""

    key: AttemptKey
    grace_seconds: float | None
    reason: str
    revoke: bool = False


@dataclass(frozen=True)
class Ack:
    """The orchestrator handled attempt ``key``'s messages up to seq ``through``."""

    key: AttemptKey
    through: int


Command = Welcome | Assign | Cancel | Ack
