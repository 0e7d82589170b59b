"""What an attempt reports, as plain values: the worker's side of the attempt messages.

An attempt's messages come in this order: :class:`Accepted` (the worker took the
assignment on), :class:`Started` (the job runs), :class:`OutputChunk` and
:class:`StepFinished` as they happen, and exactly one :class:`Finished`. An attempt
writes them into a :class:`MessageSink`; the connection to the orchestrator numbers
them, keeps each until the orchestrator acknowledges it, and converts them to the wire
(:mod:`xxci.worker.connection.wire`): nothing on this side of it knows protobuf.

``at`` is when the thing happened, by this worker's wall clock (None: not stamped):
it travels with the message, so a message sent again after an outage keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from xxci.common.status import FailureReason, JobStatus
from xxci.worker.executor import ExecutionResult

__all__ = [
    "Accepted",
    "AttemptMessage",
    "Finished",
    "MessageSink",
    "OutputChunk",
    "Started",
    "StepFinished",
]


@dataclass(frozen=True)
class Accepted:
    """The worker took the assignment on; the attempt's first message."""


@dataclass(frozen=True)
class Started:
    """The job runs, in ``container``, from the image with ``image_digest``."""

    container: str
    image_digest: str
    at: datetime | None = None


@dataclass(frozen=True)
class OutputChunk:
    """A piece of the job's output. ``seq`` numbers the attempt's output from 1;
    ``stream`` is "stdout", "stderr" or "system" (lines xxci writes itself)."""

    seq: int
    stream: str
    data: bytes


@dataclass(frozen=True)
class StepFinished:
    """Script command ``index`` (0-based) ended with ``exit_code``."""

    index: int
    exit_code: int
    at: datetime | None = None


@dataclass(frozen=True)
class Finished:
    """How the attempt ended; ``artifacts_blob`` is the digest of its uploaded
    artifacts ("" for none). The attempt's last message."""

    status: JobStatus
    exit_code: int | None = None
    failure_reason: FailureReason | None = None
    message: str = ""
    artifacts_blob: str = ""
    at: datetime | None = None
    output_cut: bool = False
    artifacts_cut: bool = False

    @classmethod
    def of(
        cls,
        result: ExecutionResult,
        artifacts_blob: str = "",
        at: datetime | None = None,
        output_cut: bool = False,
    ) -> Finished:
        """The report of ``result`` (ended ``at``), with the digest its artifacts were
        uploaded as and whether its output was cut at the output limit."""
        return cls(
            status=result.status,
            exit_code=result.exit_code,
            failure_reason=result.failure_reason,
            message=result.message,
            artifacts_blob=artifacts_blob,
            at=at,
            output_cut=output_cut,
            artifacts_cut=result.artifacts_cut,
        )


AttemptMessage = Accepted | Started | OutputChunk | StepFinished | Finished


class MessageSink(Protocol):
    """Where an attempt's messages go, in order (the attempt's outbox)."""

    async def put(self, message: AttemptMessage) -> None:
        """Queue ``message``; may wait while the connection is busy (backpressure)."""
        ...

    def close(self) -> None:
        """No more messages will come: the attempt ended."""
        ...
