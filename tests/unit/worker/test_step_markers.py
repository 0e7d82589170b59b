"""The job wrapper script and the marker parser (the wrapper runs under the host's sh)."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xxci.worker.docker.script import (
    MarkerParser,
    Output,
    StepBegan,
    StepEnded,
    StreamEvent,
    render_wrapper,
)

NONCE = "0123456789abcdef0123456789abcdef"


def marker(fields: str, nonce: str = NONCE) -> bytes:
    return f"\x1exxci:{nonce}:{fields}\n".encode()


def parse_all(chunks: list[bytes], nonce: str = NONCE) -> list[StreamEvent]:
    parser = MarkerParser(nonce)
    events: list[StreamEvent] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    events += parser.flush()
    return merged(events)


def merged(events: list[StreamEvent]) -> list[StreamEvent]:
    """Adjacent outputs joined: how output is split into chunks does not matter."""
    out: list[StreamEvent] = []
    for event in events:
        if isinstance(event, Output) and out and isinstance(out[-1], Output):
            out[-1] = Output(out[-1].data + event.data)
        elif not (isinstance(event, Output) and not event.data):
            out.append(event)
    return out


def test_markers_are_taken_out_of_the_output() -> None:
    stream = b"hello\n" + marker("begin:0") + b"no newline" + marker("end:0:0") + b"bye\n"

    assert parse_all([stream]) == [
        Output(b"hello\n"),
        StepBegan(0),
        Output(b"no newline"),
        StepEnded(0, 0),
        Output(b"bye\n"),
    ]


def test_output_is_passed_on_without_waiting_for_a_newline() -> None:
    parser = MarkerParser(NONCE)

    assert parser.feed(b"partial line") == [Output(b"partial line")]


def test_a_possible_marker_start_is_held_until_decided() -> None:
    parser = MarkerParser(NONCE)
    whole = marker("end:2:7")

    assert parser.feed(b"abc" + whole[:10]) == [Output(b"abc")]
    assert parser.feed(whole[10:]) == [StepEnded(2, 7)]


@pytest.mark.parametrize(
    "foreign",
    [
        b"\x1e plain record separator\n",
        marker("end:0:1", nonce="f" * 32),  # another attempt's nonce
        marker("bogus:1"),
        marker("end:x:1"),
        b"\x1exxci:" + NONCE.encode() + b":" + b"9" * 200 + b"\n",  # far too long
    ],
)
def test_anything_else_is_output(foreign: bytes) -> None:
    assert parse_all([b"a", foreign, b"b"]) == [Output(b"a" + foreign + b"b")]


def test_an_unfinished_marker_at_the_end_is_output() -> None:
    assert parse_all([b"x" + marker("end:0:0")[:-1]]) == [Output(b"x" + marker("end:0:0")[:-1])]


_pieces = st.lists(
    st.one_of(
        st.binary(max_size=20).map(Output),
        st.integers(0, 50).map(StepBegan),
        st.tuples(st.integers(0, 50), st.integers(0, 255)).map(lambda t: StepEnded(*t)),
    ),
    max_size=12,
)


@given(pieces=_pieces, cuts=st.lists(st.integers(0, 2000), max_size=8))
def test_any_chunking_gives_the_same_events(pieces: list[StreamEvent], cuts: list[int]) -> None:
    stream = b""
    for piece in pieces:
        if isinstance(piece, Output):
            stream += piece.data
        elif isinstance(piece, StepBegan):
            stream += marker(f"begin:{piece.index}")
        else:
            stream += marker(f"end:{piece.index}:{piece.exit_code}")
    bounds = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    chunks = [stream[a:b] for a, b in itertools.pairwise(bounds)]

    assert parse_all(chunks) == merged(pieces)


def test_nonce_must_be_hex() -> None:
    with pytest.raises(ValueError):
        render_wrapper(["true"], "not-hex; rm -rf /")


def test_the_wrapper_text_holds_no_marker() -> None:
    text = render_wrapper(["echo hi"], NONCE).encode()

    assert b"\x1e" not in text


SHELLS = [s for s in ("dash", "busybox") if shutil.which(s)]


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: list[StreamEvent]
    stderr: list[StreamEvent]


def run_wrapper(shell: str, script: list[str], cwd: Path) -> Ran:
    argv = [shell, "sh"] if shell == "busybox" else [shell]
    done = subprocess.run(
        [*argv, "-c", render_wrapper(script, NONCE)],
        cwd=cwd,
        capture_output=True,
        timeout=10,
        check=False,
    )
    return Ran(done.returncode, parse_all([done.stdout]), parse_all([done.stderr]))


@pytest.mark.skipif(not SHELLS, reason="needs dash or busybox on the host")
@pytest.mark.parametrize("shell", SHELLS)
def test_wrapper_runs_one_session_and_stops_at_the_first_failure(
    shell: str, tmp_path: Path
) -> None:
    ran = run_wrapper(
        shell,
        [
            "mkdir d && cd d",
            "export X='it''s'",
            'echo "$X in $(basename "$PWD")"; echo warned >&2',
            "printf 'a\\nb' | wc -l >/dev/null; (exit 4)",
            "echo never",
        ],
        tmp_path,
    )

    assert ran.code == 4
    assert ran.stdout == [
        StepBegan(0),
        StepEnded(0, 0),
        StepBegan(1),
        StepEnded(1, 0),
        StepBegan(2),
        Output(b"its in d\n"),
        StepEnded(2, 0),
        StepBegan(3),
        StepEnded(3, 4),
    ]
    # stderr is cut into the same commands; the ends are reported on stdout only.
    assert ran.stderr == [
        StepBegan(0),
        StepBegan(1),
        StepBegan(2),
        Output(b"warned\n"),
        StepBegan(3),
    ]


@pytest.mark.skipif(not SHELLS, reason="needs dash or busybox on the host")
@pytest.mark.parametrize("shell", SHELLS)
def test_exit_in_a_command_is_reported_by_the_exit_trap(shell: str, tmp_path: Path) -> None:
    ran = run_wrapper(shell, ["true", "exit 3", "echo never"], tmp_path)

    assert ran.code == 3
    assert ran.stdout[-2:] == [StepBegan(1), StepEnded(1, 3)]


@pytest.mark.skipif(not SHELLS, reason="needs dash or busybox on the host")
@pytest.mark.parametrize("shell", SHELLS)
def test_commands_cannot_write_on_the_marker_fds(shell: str, tmp_path: Path) -> None:
    ran = run_wrapper(
        shell, ["echo forged >&9 || true", "echo forged >&8 || true", "true"], tmp_path
    )

    assert ran.code == 0
    assert [e for e in ran.stdout if isinstance(e, Output)] == []
    assert [e for e in ran.stderr if isinstance(e, StepBegan)] == [StepBegan(i) for i in range(3)]
    # The shell says the fds are closed (on stderr); nothing reaches either stream.
    assert all(b"forged" not in e.data for e in ran.stderr if isinstance(e, Output))
