"""The change feed of one process: followers wait here for the log to grow."""

from __future__ import annotations

import asyncio

__all__ = ["ChangeNotifier"]


class ChangeNotifier:
    """Tracks the newest seq this process has seen committed and wakes waiters on it.

    Wakes on appends made through this process, with no polling; appends by another
    process are noticed when a waiter's timeout expires and the follower reads again.
    """

    def __init__(self, last_seq: int) -> None:
        self._last_seq = last_seq
        self._changed = asyncio.Condition()

    async def published(self, seq: int) -> None:
        """Events up to ``seq`` are committed: wake whoever waits for them."""
        async with self._changed:
            self._last_seq = max(self._last_seq, seq)
            self._changed.notify_all()

    async def wait_for(self, after_seq: int, timeout: float) -> bool:  # noqa: ASYNC109 -- see below
        """Wait until an event with ``seq > after_seq`` exists; False after ``timeout`` s.

        Returns at once if one does. The timeout is a parameter (not the caller's
        ``asyncio.timeout``) because a follower wants to wake regularly anyway, to
        check its client is still there, and a timeout here is not an error.
        Follower loop: ``read_all(since_seq=n, limit=...)``; if empty, ``wait_for(n, t)``.
        """
        async with self._changed:
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(lambda: self._last_seq > after_seq)
            except TimeoutError:
                return False
        return True
