"""A container's output on its way to the listener: in command order, with step reports.

:class:`StepOutput` takes the two streams as Docker delivers them, lets a
:class:`~xxci.worker.docker.transcript.Transcript` put them in command order, and tells
the listener what happened: output bytes, a ``$ command`` system line as each step
begins, and ``step_finished`` as each one ends. It remembers which steps ended with
which code, which is what the attempt's result is made of.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from xxci.worker.docker.script import StepBegan
from xxci.worker.docker.transcript import StreamOutput, Transcript, TranscriptEvent
from xxci.worker.executor import ExecutionListener

__all__ = ["SerialListener", "StepOutput"]


class SerialListener:
    """Passes listener calls on one at a time (the output pump and the supervisor both
    talk)."""

    def __init__(self, inner: ExecutionListener) -> None:
        self._inner = inner
        self._lock = asyncio.Lock()

    async def started(self, container: str, image_digest: str) -> None:
        async with self._lock:
            await self._inner.started(container, image_digest)

    async def output(self, stream: str, data: bytes) -> None:
        async with self._lock:
            await self._inner.output(stream, data)

    async def system(self, line: str) -> None:
        """A line xxci writes itself (on the ``system`` stream)."""
        await self.output("system", (line.rstrip("\n") + "\n").encode())

    async def step_finished(self, index: int, exit_code: int) -> None:
        async with self._lock:
            await self._inner.step_finished(index, exit_code)

    async def service_output(self, service: str, data: bytes) -> None:
        async with self._lock:
            await self._inner.service_output(service, data)


@dataclass
class _Steps:
    """What the markers said so far."""

    open: int | None = None
    ended: dict[int, int] = field(default_factory=dict)


class StepOutput:
    """One attempt's output and step reports; see the module docstring."""

    def __init__(
        self,
        script: Sequence[str],
        nonce: str,
        listener: SerialListener,
        after_script: Sequence[str] = (),
    ) -> None:
        self._script = (*script, *after_script)
        self._main = len(script)
        self._listener = listener
        self._transcript = Transcript(nonce, len(self._script))
        self._steps = _Steps()

    async def pump(self, frames: AsyncIterator[tuple[str, bytes]]) -> None:
        """Relay ``(stream, bytes)`` frames until the output ends."""
        async for stream, data in frames:
            await self._emit(self._transcript.feed(stream, data))
        await self.finish()

    async def finish(self) -> None:
        """Release whatever the transcript still holds (nothing once the output ended)."""
        await self._emit(self._transcript.finish())

    async def _emit(self, events: list[TranscriptEvent]) -> None:
        for event in events:
            if isinstance(event, StreamOutput):
                await self._listener.output(event.stream, event.data)
            elif isinstance(event, StepBegan):  # the transcript only lets valid indices pass
                self._steps.open = event.index
                if event.index == self._main:
                    await self._listener.system("Running after_script")
                await self._listener.system(f"$ {self._script[event.index]}")
            elif event.index not in self._steps.ended and 0 <= event.index < len(self._script):
                self._steps.open = None
                self._steps.ended[event.index] = event.exit_code
                await self._listener.step_finished(event.index, event.exit_code)
                if event.index >= self._main and event.exit_code != 0:
                    await self._listener.system(
                        "WARNING: after_script failed, but job will continue unaffected:"
                        f" exit code {event.exit_code}"
                    )

    @property
    def after_script_began(self) -> bool:
        """Whether a step of the after_script began (as far as the output released)."""
        began = self._steps.open is not None and self._steps.open >= self._main
        return began or any(index >= self._main for index in self._steps.ended)

    async def shell_exited(self, code: int) -> None:
        """The shell ended with ``code``: a step still open ended with it.

        That step ended the shell without an end marker (its own EXIT trap, a
        signal): the container's status is the step's.
        """
        if self._steps.open is None or self._steps.open >= self._main:
            return  # (an after_script's step does not decide the job's status)
        index, self._steps.open = self._steps.open, None
        self._steps.ended[index] = code
        await self._listener.step_finished(index, code)

    def failure_message(self, code: int) -> str:
        """Why a script that exited with ``code`` failed: the last failed command."""
        failed = [i for i, rc in self._steps.ended.items() if rc != 0 and i < self._main]
        if not failed:
            return f"script failed with exit code {code}"
        index = max(failed)
        command = self._script[index].strip().splitlines()[0] if self._script else ""
        return f"command {index + 1} failed with exit code {code}: {command}"
