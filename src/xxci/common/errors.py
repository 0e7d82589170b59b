"""The errors xxci raises on purpose.

    XxciError                 anything xxci reports to a user as one clear line
    ├── SpecError             the pipeline file is wrong (carries every Diagnostic)
    ├── UsageError            the command line is wrong (exit code 2)
    ├── NotFoundError         a pipeline, run, job or blob that does not exist
    ├── ConflictError         a stale write to the event log: re-read and retry
    ├── AuthError             missing or wrong token
    ├── TlsError              the two ends disagree on TLS, or the certificate is not
    │                         trusted: retrying cannot help
    └── ConnectionFailed      the orchestrator (or Docker) could not be reached

Foreign errors (grpc, sqlite, docker, yaml) are translated once, at the boundary
that meets them, and chained with ``from``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AuthError",
    "ConflictError",
    "ConnectionFailed",
    "Diagnostic",
    "NotFoundError",
    "SpecError",
    "TlsError",
    "UsageError",
    "XxciError",
]


class XxciError(Exception):
    """Base of every error xxci shows a user; ``str()`` is the message to print."""

    exit_code: int = 1


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in a pipeline file, at a 1-based line and column."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class SpecError(XxciError):
    """The pipeline file(s) are invalid. ``diagnostics`` holds every problem, sorted."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))

    def __reduce__(self) -> tuple[type[SpecError], tuple[list[Diagnostic]]]:
        # Pickled with its diagnostics (a pipeline file is read in another process).
        return (SpecError, (self.diagnostics,))


class UsageError(XxciError):
    exit_code = 2


class NotFoundError(XxciError):
    pass


class ConflictError(XxciError):
    """An append whose expected stream version is stale."""


class AuthError(XxciError):
    pass


class TlsError(XxciError):
    """TLS on one end and not the other, or a certificate the client does not trust."""


class ConnectionFailed(XxciError):
    pass
