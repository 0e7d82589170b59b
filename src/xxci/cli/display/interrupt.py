"""Ctrl-C as the normal way to stop following (``logs --follow``, ``events --follow``)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TypeVar

import asyncclick as click

T = TypeVar("T")

INTERRUPTED_EXIT = 130
"""What a shell reports for a command ended by SIGINT (128 + 2)."""

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""What stops a client command as Ctrl-C does: a SIGTERM (``timeout``, a job
control system, a closing terminal session manager) ends a ``run --local`` the same
clean way, its jobs canceled and its temporary files removed."""


async def until_interrupted(source: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    """The items of ``source`` until it ends, or until Ctrl-C: then ``source`` is
    closed and the command exits with status 130, without a traceback."""
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    try:
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, interrupted.set)
        installed = True
    except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
        installed = False
    stopper = asyncio.ensure_future(interrupted.wait())
    try:
        while True:
            step = asyncio.ensure_future(anext(source))
            await asyncio.wait({step, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                step.cancel()
                await asyncio.gather(step, return_exceptions=True)
                raise click.exceptions.Exit(INTERRUPTED_EXIT)
            try:
                item = step.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        stopper.cancel()
        if installed:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)
        if isinstance(source, AsyncGenerator):
            with contextlib.suppress(Exception):
                await source.aclose()
