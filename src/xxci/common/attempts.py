"""Naming one attempt of one job, and the streams of its output.

Both sides of the worker stream use these; the wire forms (``AttemptRef``,
``LogStream``) are converted at the edges (:mod:`xxci.common.convert`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["AttemptKey", "LogStream"]


@dataclass(frozen=True, order=True)
class AttemptKey:
    """One attempt (counting from 1) of one job of one run."""

    run_id: str
    job: str
    attempt: int

    def __str__(self) -> str:
        return f"{self.run_id}/{self.job}#{self.attempt}"


class LogStream(enum.StrEnum):
    """Where a piece of a job's output came from."""

    STDOUT = "stdout"
    STDERR = "stderr"
    SYSTEM = "system"
    """Lines xxci itself writes (step markers, notes about dropped output)."""
