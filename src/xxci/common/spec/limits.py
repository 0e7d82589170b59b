"""How much a pipeline file may ask of whoever reads it.

A pipeline file comes from anyone who can push to a repository, and the orchestrator
reads every file it is sent. These limits keep one hostile or broken file from
costing more than a bounded amount of time and memory; each one exceeded is a single
diagnostic at the line where it was crossed. Size and depth are checked before and
while YAML is read (nothing is built past them), the job count before the jobs are
read, ``needs`` as each job's are resolved, and the CPU-time cap stops whatever is
still running when the budget is spent.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType

from xxci.common.errors import Diagnostic, SpecError

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_NEEDS",
    "SpecLimits",
    "cpu_budget",
    "describe_size",
    "oversized",
    "too_large",
]

MAX_NEEDS = 50
"""Jobs one job may need, as in GitLab."""


@dataclass(frozen=True)
class SpecLimits:
    """The limits one pipeline file (with what it includes) is read within."""

    max_bytes: int = 2 * 1024 * 1024
    """The size of one file in bytes (GitLab's default: 2 MiB)."""
    max_depth: int = 150
    """How deeply mappings and lists may nest."""
    max_jobs: int = 1000
    """Jobs in the run, after ``parallel`` expansion."""
    max_needs: int = MAX_NEEDS
    """Jobs one job may need."""
    cpu_seconds: float = 10.0
    """CPU time to read and validate the file (0: no cap)."""


DEFAULT_LIMITS = SpecLimits()


def describe_size(size: int) -> str:
    """``2 MiB``, ``512 KiB``, ``1.5 GiB``, ``300 bytes``: a size for a message."""
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    text = f"{value:.2f}".rstrip("0").removesuffix(".")
    return f"{text} {unit}"


def oversized(text: str, file: str, limits: SpecLimits) -> Diagnostic | None:
    """The diagnostic for a text longer than ``limits.max_bytes`` (UTF-8), at the line
    where the limit is crossed; None when it fits."""
    limit = limits.max_bytes
    if len(text) <= limit // 4:  # no character takes more than 4 bytes
        return None
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= limit:
        return None
    return too_large(file, len(encoded), encoded[:limit], limits)


def too_large(file: str, size: int, head: bytes, limits: SpecLimits) -> Diagnostic:
    """The diagnostic for a file of ``size`` bytes that begins with ``head`` (its first
    ``limits.max_bytes``), at the line where the limit is crossed."""
    line = head[: limits.max_bytes].count(b"\n") + 1
    message = (
        f"the file is {describe_size(size)}, over the limit of "
        f"{describe_size(limits.max_bytes)}; the limit is crossed on this line"
    )
    return Diagnostic(file, line, 1, message)


class _OverBudget(BaseException):
    """Raised inside the reading code when its CPU time is spent (a BaseException, so
    that no ``except Exception`` on the way turns it into another error)."""


@contextlib.contextmanager
def cpu_budget(seconds: float, file: str) -> Iterator[None]:
    """Stop the block with a :class:`SpecError` once the process has spent ``seconds``
    of CPU time in it.

    The timer counts the process's CPU time (``ITIMER_PROF``), so a loaded machine
    does not make an honest file fail. Signals reach Python's main thread only: in
    another thread, or with ``seconds`` 0, the block runs without a cap (the
    orchestrator reads files in a pool process, on its main thread).
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return
    armed = True

    def expire(signum: int, frame: FrameType | None) -> None:
        if armed:
            raise _OverBudget

    previous = signal.signal(signal.SIGPROF, expire)
    # Then again every 50 ms: a signal that lands in code that cannot raise (a garbage
    # collector callback) is lost, and the next one stops the block.
    signal.setitimer(signal.ITIMER_PROF, seconds, 0.05)
    try:
        yield
    except _OverBudget:
        message = (
            f"reading the file took more than {seconds:g} s of CPU time, the limit; "
            "it is too large or too intricate"
        )
        raise SpecError([Diagnostic(file, 1, 1, message)]) from None
    finally:
        armed = False
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
