"""stdout and stderr merged in command order, whatever order their bytes arrive in."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xxci.worker.docker.script import StepBegan, StepEnded
from xxci.worker.docker.transcript import StreamOutput, Transcript, TranscriptEvent

NONCE = "0123456789abcdef0123456789abcdef"


def marker(fields: str) -> bytes:
    return f"\x1exxci:{NONCE}:{fields}\n".encode()


def begin(index: int) -> bytes:
    return marker(f"begin:{index}")


def end(index: int, exit_code: int = 0) -> bytes:
    return marker(f"end:{index}:{exit_code}")


@dataclass(frozen=True)
class Command:
    """What one command writes: ``out`` on stdout, ``err`` on stderr."""

    out: str = ""
    err: str = ""


def streams(commands: Sequence[Command]) -> dict[str, bytes]:
    """The two streams as the wrapper writes them: a begin marker on both, the end
    marker on stdout."""
    out = b"".join(begin(i) + c.out.encode() + end(i) for i, c in enumerate(commands))
    err = b"".join(begin(i) + c.err.encode() for i, c in enumerate(commands))
    return {"stdout": out, "stderr": err}


def play(
    arrivals: Iterable[tuple[str, bytes]], commands: int = 10, hold_limit: int = 1 << 20
) -> list[str]:
    transcript = Transcript(NONCE, commands, hold_limit)
    events: list[TranscriptEvent] = []
    for stream, data in arrivals:
        events += transcript.feed(stream, data)
    events += transcript.finish()
    return readable(events)


def readable(events: Iterable[TranscriptEvent]) -> list[str]:
    """One line per event, a stream's adjacent outputs joined (chunking does not matter)."""
    lines: list[str] = []
    last = ""
    for event in events:
        if isinstance(event, StreamOutput):
            if not event.data:
                continue
            if last == event.stream:
                lines[-1] += event.data.decode()
            else:
                lines.append(f"{event.stream}: {event.data.decode()}")
            last = event.stream
            continue
        last = ""
        if isinstance(event, StepBegan):
            lines.append(f"$ {event.index}")
        else:
            lines.append(f"end {event.index}: {event.exit_code}")
    return lines


def test_the_segment_being_written_passes_at_once_and_ends_are_live() -> None:
    transcript = Transcript(NONCE, 2)

    assert transcript.feed("stdout", begin(0)) == []  # stderr may still hold earlier output
    assert transcript.feed("stderr", begin(0)) == [StepBegan(0)]
    assert transcript.feed("stdout", b"partial") == [StreamOutput("stdout", b"partial")]
    assert transcript.feed("stderr", b"warn") == [StreamOutput("stderr", b"warn")]
    assert transcript.feed("stdout", end(0, 3)) == [StepEnded(0, 3)]
    assert transcript.finish() == []


COMPILE = [Command(out="compiled\n"), Command(err="careful\n")]


def test_stderr_of_the_next_command_waits_for_its_line() -> None:
    # What the log of `echo compiled; echo careful >&2` showed out of order.
    arrivals = [
        ("stderr", begin(0) + begin(1) + b"careful\n"),
        ("stdout", begin(0) + b"compiled\n" + end(0)),
        ("stdout", begin(1) + end(1)),
    ]

    assert play(arrivals) == [
        "$ 0",
        "stdout: compiled\n",
        "end 0: 0",
        "$ 1",
        "stderr: careful\n",
        "end 1: 0",
    ]


THREE = [Command(out="a\n"), Command(err="b\n"), Command(out="c\n", err="d\n")]


def test_stderr_far_ahead() -> None:
    both = streams(THREE)
    arrivals = [("stderr", both["stderr"]), ("stdout", both["stdout"])]

    # In command 2 both streams wrote; stderr's came first, and stays first.
    assert play(arrivals) == [
        "$ 0",
        "stdout: a\n",
        "end 0: 0",
        "$ 1",
        "stderr: b\n",
        "end 1: 0",
        "$ 2",
        "stderr: d\n",
        "stdout: c\n",
        "end 2: 0",
    ]


def test_stdout_far_ahead() -> None:
    both = streams(THREE)
    arrivals = [("stdout", both["stdout"]), ("stderr", both["stderr"])]

    # A command's stderr can come after its end: the end travels on stdout.
    assert play(arrivals) == [
        "$ 0",
        "stdout: a\n",
        "end 0: 0",
        "$ 1",
        "end 1: 0",
        "stderr: b\n",
        "$ 2",
        "stdout: c\n",
        "end 2: 0",
        "stderr: d\n",
    ]


def test_markers_split_across_chunks_of_both_streams() -> None:
    both = streams(THREE)
    whole = play([("stdout", both["stdout"]), ("stderr", both["stderr"])])
    # One byte at a time, the streams taking turns.
    out = [("stdout", both["stdout"][i : i + 1]) for i in range(len(both["stdout"]))]
    err = [("stderr", both["stderr"][i : i + 1]) for i in range(len(both["stderr"]))]
    turns = [a for pair in itertools.zip_longest(out, err) for a in pair if a is not None]

    got = play(turns)

    assert sorted(got) == sorted(whole)  # within a command, arrival order may differ
    assert [line for line in got if not line.startswith("std")] == [
        "$ 0",
        "end 0: 0",
        "$ 1",
        "end 1: 0",
        "$ 2",
        "end 2: 0",
    ]
    assert not any("\x1e" in line or "xxci:" in line for line in got)


def test_a_stream_far_ahead_is_released_past_the_hold_limit() -> None:
    transcript = Transcript(NONCE, 4, hold_limit=10)
    assert transcript.feed("stdout", begin(0)) == []
    assert transcript.feed("stderr", begin(0)) == [StepBegan(0)]
    # stdout stalls in command 0 while stderr runs on.
    assert transcript.feed("stderr", begin(1) + b"1111") == []
    assert transcript.feed("stderr", begin(2) + b"2222") == []
    assert transcript.held_bytes == 8

    # Over the limit: the oldest held command goes out, no more than needed.
    assert transcript.feed("stderr", begin(3) + b"3333") == [
        StepBegan(1),
        StreamOutput("stderr", b"1111"),
    ]
    assert transcript.held_bytes == 8
    # stdout's late output of command 0 is not lost: it passes at once, out of order.
    assert transcript.feed("stdout", b"late\n" + end(0)) == [
        StreamOutput("stdout", b"late\n"),
        StepEnded(0, 0),
    ]
    assert transcript.feed("stdout", begin(1) + end(1)) == [StepEnded(1, 0)]
    assert readable(transcript.feed("stdout", begin(2) + end(2))) == [
        "$ 2",
        "stderr: 2222",
        "end 2: 0",
    ]
    assert readable(transcript.finish()) == ["$ 3", "stderr: 3333"]
    assert transcript.held_bytes == 0


def test_finish_releases_everything_once() -> None:
    transcript = Transcript(NONCE, 3)
    transcript.feed("stdout", begin(0) + b"out" + end(0))
    transcript.feed("stdout", begin(1) + b"killed" + end(1)[:-1])  # killed mid-marker
    transcript.feed("stderr", begin(0))

    # stderr never got its begin marker for command 1 (the container died first).
    assert readable(transcript.finish()) == [
        "$ 1",
        "stdout: killed" + end(1)[:-1].decode(),
    ]
    assert transcript.finish() == []
    with pytest.raises(ValueError):
        transcript.feed("stdout", b"more")


def test_begin_markers_that_do_not_move_a_stream_forward_are_dropped() -> None:
    arrivals = [
        ("stdout", begin(0) + begin(5) + b"x" + end(0)),
        ("stderr", begin(0) + begin(0) + b"y"),
    ]

    assert play(arrivals, commands=2) == ["$ 0", "stdout: x", "end 0: 0", "stderr: y"]


# --- any chunking, any arrival order ---------------------------------------------------

_commands = st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), max_size=8).map(
    lambda sizes: [
        # Command i writes only its own letter: upper case on stdout, lower on stderr.
        Command(out=chr(65 + i) * n, err=chr(97 + i) * m)
        for i, (n, m) in enumerate(sizes)
    ]
)


@st.composite
def _scenario(draw: st.DrawFn) -> tuple[list[Command], list[tuple[str, bytes]]]:
    """Commands, and their two streams cut anywhere and delivered in any interleaving."""
    commands = draw(_commands)
    chunked: dict[str, list[bytes]] = {}
    for stream, data in streams(commands).items():
        cuts = draw(st.lists(st.integers(0, len(data)), max_size=12))
        bounds = sorted({0, len(data), *cuts})
        chunked[stream] = [data[a:b] for a, b in itertools.pairwise(bounds)]
    turns = draw(st.permutations([s for s, chunks in chunked.items() for _ in chunks]))
    queues = {s: iter(chunks) for s, chunks in chunked.items()}
    return commands, [(s, next(queues[s])) for s in turns]


def _command_of(event: TranscriptEvent) -> int:
    if isinstance(event, StreamOutput):
        return event.data.lower()[0] - ord("a")
    return event.index


def _written(commands: list[Command], stream: str) -> bytes:
    return "".join(c.out if stream == "stdout" else c.err for c in commands).encode()


def _output(events: list[TranscriptEvent], stream: str) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, StreamOutput) and e.stream == stream)


def _stdout_and_ends(events: Iterable[TranscriptEvent]) -> list[str]:
    """What stdout carried besides the begin markers: its output and the step ends."""
    return readable(
        e
        for e in events
        if isinstance(e, StepEnded) or (isinstance(e, StreamOutput) and e.stream == "stdout")
    )


def _as_written(commands: list[Command]) -> list[str]:
    events: list[TranscriptEvent] = []
    for i, c in enumerate(commands):
        events += [StreamOutput("stdout", c.out.encode()), StepEnded(i, 0)]
    return readable(events)


@given(scenario=_scenario())
def test_any_arrival_order_gives_the_transcript_in_command_order(
    scenario: tuple[list[Command], list[tuple[str, bytes]]],
) -> None:
    commands, arrivals = scenario
    transcript = Transcript(NONCE, len(commands))
    events = [e for stream, data in arrivals for e in transcript.feed(stream, data)]
    events += transcript.finish()

    # Nothing lost, no marker leaked, each stream in its own order.
    assert _output(events, "stdout") == _written(commands, "stdout")
    assert _output(events, "stderr") == _written(commands, "stderr")
    assert _stdout_and_ends(events) == _as_written(commands)
    # Each command's line once, first of all it released; all of it before the next.
    assert [e for e in events if isinstance(e, StepBegan)] == [
        StepBegan(i) for i in range(len(commands))
    ]
    order = [_command_of(e) for e in events]
    assert order == sorted(order)
    for i in range(len(commands)):
        assert events[order.index(i)] == StepBegan(i)


@given(scenario=_scenario(), hold_limit=st.integers(0, 40))
def test_held_output_stays_under_the_limit_and_none_is_lost(
    scenario: tuple[list[Command], list[tuple[str, bytes]]], hold_limit: int
) -> None:
    commands, arrivals = scenario
    transcript = Transcript(NONCE, len(commands), hold_limit)
    events: list[TranscriptEvent] = []
    for stream, data in arrivals:
        events += transcript.feed(stream, data)
        assert transcript.held_bytes <= hold_limit
    events += transcript.finish()

    assert transcript.held_bytes == 0
    assert _output(events, "stdout") == _written(commands, "stdout")
    assert _output(events, "stderr") == _written(commands, "stderr")
    assert _stdout_and_ends(events) == _as_written(commands)
    assert [e for e in events if isinstance(e, StepBegan)] == [
        StepBegan(i) for i in range(len(commands))
    ]
