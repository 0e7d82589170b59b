"""Pipeline files read off the event loop, in a small pool of processes.

Reading a file is pure Python (ruamel.yaml) and can take seconds of CPU for a large
one; done on the orchestrator's event loop, it would stall every worker stream and
every client for that long, and in a thread it would still hold the GIL. So each
submitted file is read in one of a few worker processes (:data:`DEFAULT_WORKERS`),
started with ``spawn`` (the orchestrator's threads and sockets are not inherited),
at a lower scheduling priority than the orchestrator, with an address-space cap.

Inside, the file is read within its :class:`~xxci.common.spec.limits.SpecLimits`
(CPU time included); outside, a wall-clock backstop ends a process that still has
not answered, and a process that dies (out of memory) is replaced. Either way the
client gets one line, never a traceback.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import os
import resource
from collections.abc import Sequence

import pebble

from xxci.common.errors import Diagnostic, SpecError
from xxci.common.spec import load_pipeline_text
from xxci.common.spec.context import RunContext
from xxci.common.spec.limits import DEFAULT_LIMITS, SpecLimits, describe_size
from xxci.common.spec.model import Pipeline

__all__ = ["DEFAULT_WORKERS", "MEMORY_CAP", "SpecPool"]

log = logging.getLogger("xxci.orchestrator")

DEFAULT_WORKERS = 2
MEMORY_CAP = 1024**3
"""Address space of one reading process: what a file within the limits needs, many
times over."""
_NICENESS = 10


def _start_reader(memory_cap: int) -> None:
    """In each pool process: yield the CPU to the orchestrator, cap the memory."""
    os.nice(_NICENESS)
    if memory_cap:
        resource.setrlimit(resource.RLIMIT_AS, (memory_cap, memory_cap))


def _read(
    text: str,
    file_name: str,
    overrides: Sequence[str],
    context: RunContext,
    limits: SpecLimits,
) -> Pipeline:
    """In a pool process (its main thread, so the CPU-time cap applies)."""
    try:
        return load_pipeline_text(text, file_name, overrides, context, limits)
    except MemoryError:
        cap = describe_size(MEMORY_CAP)
        message = f"reading the file needed more than {cap} of memory; it is too intricate"
        raise SpecError([Diagnostic(file_name, 1, 1, message)]) from None


class SpecPool:
    """Reads pipeline files in worker processes, at most ``workers`` at a time.

    The processes start with the first file and are reused; :meth:`close` stops them.
    """

    def __init__(
        self,
        limits: SpecLimits = DEFAULT_LIMITS,
        workers: int = DEFAULT_WORKERS,
        memory_cap: int = MEMORY_CAP,
    ) -> None:
        self.limits = limits
        self._workers = workers
        self._memory_cap = memory_cap
        self._pool: pebble.ProcessPool | None = None
        # Files waiting beyond this wait here, not as pickled texts in the pool's queue.
        self._slots = asyncio.Semaphore(workers * 2)

    @property
    def backstop_seconds(self) -> float:
        """Wall-clock time after which a reading process is ended, whatever it does."""
        cpu = self.limits.cpu_seconds or 60.0
        return cpu * 3 + 30.0

    async def load(
        self,
        text: str,
        file_name: str,
        overrides: Sequence[str] = (),
        context: RunContext | None = None,
    ) -> Pipeline:
        """The pipeline of ``text`` for ``context``; :class:`SpecError` (one line for a
        limit exceeded) or :class:`~xxci.common.errors.UsageError` like
        :func:`~xxci.common.spec.load_pipeline_text`."""
        async with self._slots:
            future = self._started().schedule(
                _read,
                args=(text, file_name, tuple(overrides), context or RunContext(), self.limits),
                timeout=self.backstop_seconds,
            )
            try:
                return await asyncio.wrap_future(future)
            except concurrent.futures.TimeoutError:
                reason = f"reading the file took more than {self.backstop_seconds:g} s"
            except pebble.ProcessExpired as err:
                log.warning("a pipeline reader died (%s) on %s", err, file_name)
                reason = "reading the file took more memory than a reader is allowed"
            except asyncio.CancelledError:
                future.cancel()  # type: ignore[no-untyped-call]  # ends the reading process
                raise
        raise SpecError([Diagnostic(file_name, 1, 1, f"{reason}; it is too intricate")])

    def _started(self) -> pebble.ProcessPool:
        if self._pool is None:
            self._pool = pebble.ProcessPool(
                max_workers=self._workers,
                initializer=_start_reader,
                initargs=(self._memory_cap,),
                context=multiprocessing.get_context("spawn"),
            )
        return self._pool

    async def close(self) -> None:
        """Stop the processes (a file being read is abandoned). Idempotent."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.stop()  # type: ignore[no-untyped-call]
            await asyncio.to_thread(pool.join)
