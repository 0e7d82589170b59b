"""The after_script of a job that xxci stopped: a timeout or a cancel.

GitLab runs ``after_script`` even then, in a shell of its own, with its own time bound
and ``CI_JOB_STATUS`` saying how the job ended. The job's container has stopped (its
program got the SIGTERM or SIGKILL), but its files are intact: it is started again
with :data:`~xxci.worker.docker.script.AFTER_ONLY_FILE` in place, so its program runs
only the after_script, whose output and steps follow the script's as usual. A kill
(the attempt is no longer this worker's) stops it at once; so does its time bound.
"""

from __future__ import annotations

import asyncio
import io
import tarfile
from typing import Any

from xxci.common.spec.durations import format_duration
from xxci.worker.docker.engine import Container
from xxci.worker.docker.output import SerialListener, StepOutput
from xxci.worker.docker.script import AFTER_ONLY_FILE

__all__ = ["run_after_script"]

_DRAIN_SECONDS = 10.0
_KILL_WAIT_SECONDS = 30.0


def _status_file(status: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = status.encode()
        info = tarfile.TarInfo(AFTER_ONLY_FILE.strip("/"))
        info.size = len(data)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


async def run_after_script(
    container: Container,
    output: StepOutput,
    listener: SerialListener,
    job_status: str,
    kill: asyncio.Event,
    limit_seconds: float,
) -> None:
    """Start the stopped ``container`` again to run its after_script alone, with
    ``CI_JOB_STATUS=job_status``, for at most ``limit_seconds`` (or until ``kill``);
    its output and steps go through ``output`` (a fresh one: the first ended)."""
    await container.put_archive("/", _status_file(job_status))
    async with container.attach() as frames:
        await container.start()
        pump = asyncio.ensure_future(output.pump(frames))
        waiter = asyncio.ensure_future(container.wait())
        killed = asyncio.ensure_future(kill.wait())
        try:
            watched: set[asyncio.Future[Any]] = {waiter, killed}
            done, _ = await asyncio.wait(
                watched, timeout=limit_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            if waiter not in done:
                why = (
                    "job no longer ours"
                    if killed in done
                    else f"after_script exceeded its time limit of {format_duration(limit_seconds)}"
                )
                await listener.system(f"{why}: killing it (SIGKILL)")
                await container.signal("SIGKILL")
                await asyncio.wait({waiter}, timeout=_KILL_WAIT_SECONDS)
            await asyncio.wait({pump}, timeout=_DRAIN_SECONDS)
            if pump.done():
                pump.result()
        finally:
            for task in (pump, waiter, killed):
                task.cancel()
            await asyncio.gather(pump, waiter, killed, return_exceptions=True)
    await output.finish()
