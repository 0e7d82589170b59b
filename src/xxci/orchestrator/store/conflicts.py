"""Re-read and retry: the one loop around an append that may meet a moved stream."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from xxci.common.errors import ConflictError

__all__ = ["ATTEMPTS", "retry_on_conflict"]

T = TypeVar("T")

ATTEMPTS = 5


async def retry_on_conflict(
    attempt: Callable[[bool], Awaitable[T]], what: str, attempts: int = ATTEMPTS
) -> T:
    """Await ``attempt(again)`` until it ends without ConflictError, and return its result.

    An attempt reads the stream, decides, and appends at the version it read; a
    ConflictError means the stream moved in between, so the next call (``again`` True)
    must read it afresh. After ``attempts`` conflicts in a row this raises
    ConflictError naming ``what`` (e.g. ``"run 3f2a"``): a change is never dropped
    silently, so the caller must not acknowledge it.
    """
    for n in range(attempts):
        try:
            return await attempt(n > 0)
        except ConflictError:
            continue
    raise ConflictError(f"{what} kept changing; the change was not recorded, try again")
