"""A job's stdout and stderr merged into one transcript, in command order.

Docker hands the executor a container's stdout and stderr as two streams read
independently, so one can run ahead of the other: a command's stderr may arrive
before the previous command's stdout. The wrapper (:mod:`xxci.worker.docker.script`) writes
command ``i``'s begin marker on *both* streams before the command runs, which cuts
each stream into segments: what a stream carries after its begin marker ``i`` (and
before ``i + 1``) belongs to command ``i``; before any marker, to a prologue ``-1``.

:class:`Transcript` releases what it is fed in command order:

* Command ``i``'s :class:`~xxci.worker.docker.script.StepBegan` (the ``$ command`` line)
  comes once both streams have reached segment ``i``, after everything of earlier
  commands and before anything of ``i``.
* Output and end markers of the segment released last pass at once, each stream's in
  its own order and the two streams' in the order they arrived. Those of a stream
  that is ahead are held until the other stream reaches the same segment (its begin
  marker, or the end of the output).
* Held output is bounded by ``hold_limit`` (1 MiB): past it, the oldest held segments
  are released as if the lagging stream had caught up. Nothing is lost, but that
  stream's remaining output of earlier commands then comes after a later command's
  line. A stream lags by what the engine has buffered of it, far less than the
  limit unless the engine stalls on one stream.
* :meth:`Transcript.finish`, at the end of the output, releases everything.

End markers (:class:`~xxci.worker.docker.script.StepEnded`) travel on stdout after the
command's stdout, so a step's end comes after its stdout and is only held while that
is; a step's stderr may still follow its end.
"""

from __future__ import annotations

from dataclasses import dataclass

from xxci.worker.docker.script import MarkerParser, Output, StepBegan, StepEnded, StreamEvent

__all__ = [
    "HOLD_LIMIT",
    "STREAMS",
    "StreamOutput",
    "Transcript",
    "TranscriptEvent",
]

STREAMS = ("stdout", "stderr")
HOLD_LIMIT = 1 << 20
"""Bytes a stream that runs ahead may have held before they are released anyway."""


@dataclass(frozen=True)
class StreamOutput:
    """Bytes the job wrote on ``stream`` ("stdout" or "stderr")."""

    stream: str
    data: bytes


TranscriptEvent = StepBegan | StreamOutput | StepEnded
_Held = StreamOutput | StepEnded


class Transcript:
    """Merges the two streams of one attempt; see the module docstring.

    ``commands`` is the number of script commands: a begin marker for any other
    index, or one that does not move its stream forward, is dropped.
    """

    def __init__(self, nonce: str, commands: int, hold_limit: int = HOLD_LIMIT) -> None:
        self._parsers = {stream: MarkerParser(nonce) for stream in STREAMS}
        self._commands = commands
        self._hold_limit = hold_limit
        self._segment = dict.fromkeys(STREAMS, -1)
        self._began: set[int] = set()
        self._released = -1
        self._held: dict[int, list[_Held]] = {}
        self._held_bytes = 0
        self._finished = False

    @property
    def held_bytes(self) -> int:
        """Output bytes fed but not yet released."""
        return self._held_bytes

    def feed(self, stream: str, data: bytes) -> list[TranscriptEvent]:
        """What ``data``, just read from ``stream``, releases, in transcript order."""
        if self._finished:
            raise ValueError("the transcript is finished")
        released: list[TranscriptEvent] = []
        for event in self._parsers[stream].feed(data):
            self._take(stream, event, released)
        return released

    def finish(self) -> list[TranscriptEvent]:
        """At the end of the output: everything still held, in transcript order.

        Calling it again releases nothing more.
        """
        released: list[TranscriptEvent] = []
        if self._finished:
            return released
        for stream in STREAMS:
            for event in self._parsers[stream].flush():
                self._take(stream, event, released)
        self._finished = True
        self._release_through(max(self._segment.values()), released)
        return released

    def _take(self, stream: str, event: StreamEvent, released: list[TranscriptEvent]) -> None:
        if isinstance(event, StepBegan):
            if self._segment[stream] < event.index < self._commands:
                self._segment[stream] = event.index
                self._began.add(event.index)
                self._release_through(min(self._segment.values()), released)
            return
        item = StreamOutput(stream, event.data) if isinstance(event, Output) else event
        segment = self._segment[stream]
        if segment <= self._released:
            released.append(item)
            return
        self._held.setdefault(segment, []).append(item)
        self._held_bytes += _size(item)
        while self._held and self._held_bytes > self._hold_limit:
            self._release_through(min(self._held), released)

    def _release_through(self, segment: int, released: list[TranscriptEvent]) -> None:
        while self._released < segment:
            self._released += 1
            if self._released in self._began:
                self._began.discard(self._released)
                released.append(StepBegan(self._released))
            for item in self._held.pop(self._released, []):
                self._held_bytes -= _size(item)
                released.append(item)


def _size(item: _Held) -> int:
    return len(item.data) if isinstance(item, StreamOutput) else 0
