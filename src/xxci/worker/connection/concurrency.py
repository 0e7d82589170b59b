"""Small structured-concurrency helpers for the worker's connection loop."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from typing import Any

__all__ = ["backoff_delay", "race"]


async def race(*coros: Coroutine[Any, Any, None]) -> None:
    """Run ``coros`` as tasks until the first one ends, then cancel and await the rest.

    The first task's exception, if any, is raised. Cancelling ``race`` cancels every
    task and still awaits them all; the ``CancelledError`` then propagates.
    """
    tasks = [asyncio.create_task(coro) for coro in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if task in done and not task.cancelled() and (error := task.exception()) is not None:
            raise error


def backoff_delay(failures: int, initial: float = 0.5, maximum: float = 10.0) -> float:
    """Seconds to wait after ``failures`` consecutive failures (>= 1).

    Exponential from ``initial``, capped at ``maximum``, with jitter: a uniformly
    random value in the upper half of the step, so many workers do not retry in step.
    """
    step = min(maximum, initial * 2 ** max(0, failures - 1))
    return random.uniform(step / 2, step)
