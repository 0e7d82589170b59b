"""Following the log for changes appended by other orchestrators (a shared store).

One task reads the log after the last seq it has seen, whenever the change feed says
it grew (LISTEN/NOTIFY on PostgreSQL) or a tick passes, and hands what it read to the
run book (:meth:`~xxci.orchestrator.runtime.runs.RunBook.observe`), which brings its
cached runs up to date and tells its listeners, exactly as for its own appends: a run
submitted to another orchestrator is dispatched, cancelled and followed here too.
``also`` sees every page too (the events of worker streams: a worker revoked through
another orchestrator is cut off here).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from xxci.common.events import RecordedEvent
from xxci.orchestrator.runtime.runs import RunBook
from xxci.orchestrator.store import EventStorage

__all__ = ["follow_log"]

log = logging.getLogger("xxci.orchestrator")

_PAGE = 1000


async def follow_log(
    store: EventStorage,
    runs: RunBook,
    after_seq: int,
    poll: float,
    also: Callable[[Sequence[RecordedEvent]], Awaitable[None]] | None = None,
) -> None:
    """Run until cancelled: every event after ``after_seq``, in seq order, to ``runs``
    (and to ``also``)."""
    seen = after_seq
    while True:
        try:
            page = await store.read_all(since_seq=seen, limit=_PAGE)
            if page:
                await runs.observe(page)
                if also is not None:
                    await also(page)
                seen = page[-1].seq
                continue
            await store.wait_for(seen, poll)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("following the log failed; trying again")
            await asyncio.sleep(poll)
