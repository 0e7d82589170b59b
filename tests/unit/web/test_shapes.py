"""Pure pieces of the web view: event-stream framing, durations as the pages show
them, what the pages take from events, and log text across piece boundaries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from xxci.common.api import LogPiece
from xxci.common.errors import NotFoundError
from xxci.common.events import JobFinished, RecordedEvent, RunCreated, StageStarted
from xxci.orchestrator.web.reads import artifacts_by_attempt, find_job, log_chunks, needs_of
from xxci.orchestrator.web.sse import Message
from xxci.orchestrator.web.templating import make_templates, seconds_text

AT = datetime(2025, 1, 1, tzinfo=UTC)


def recorded(seq: int, event: object) -> RecordedEvent:
    assert isinstance(event, RunCreated | StageStarted | JobFinished)
    return RecordedEvent(seq, "run:r1", seq, AT, event)


def test_messages_are_framed_as_server_sent_events() -> None:
    assert Message('{"a": 1}', id="7").encode() == b'id: 7\ndata: {"a": 1}\n\n'
    assert Message("{}", event="end").encode() == b"event: end\ndata: {}\n\n"
    assert Message("two\nlines").encode() == b"data: two\ndata: lines\n\n"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, ""),
        (0.2504, "250 ms"),
        (3.21, "3.2 s"),
        (42.4, "42 s"),
        (185, "3 m 05 s"),
        (7440, "2 h 04 m"),
    ],
)
def test_durations(seconds: float | None, text: str) -> None:
    assert seconds_text(seconds) == text


def test_templates_escape_everything_by_default() -> None:
    env = make_templates()
    out = env.from_string("{{ name }} {{ data|tojson }}").render(
        name="<img src=x>", data={"k": "</script>"}
    )
    assert out == '&lt;img src=x&gt; {"k": "\\u003c/script\\u003e"}'


def test_needs_and_artifacts_come_from_the_events() -> None:
    pipeline = {
        "name": "p",
        "jobs": [{"name": "a", "needs": []}, {"name": "b", "needs": ["a"]}],
    }
    records = [
        recorded(1, RunCreated(run_id="r1", pipeline=pipeline, number=1)),
        recorded(2, StageStarted("s")),
        recorded(3, JobFinished("b", 1, "FAILED", artifacts_blob="sha256:" + "1" * 64)),
        recorded(4, JobFinished("b", 2, "SUCCESS", artifacts_blob="sha256:" + "2" * 64)),
        recorded(5, JobFinished("a", 1, "SUCCESS")),
    ]
    assert needs_of(records) == {"a": [], "b": ["a"]}
    assert needs_of(records[1:]) == {}
    assert artifacts_by_attempt(records, "b") == {1: "sha256:" + "1" * 64, 2: "sha256:" + "2" * 64}
    assert artifacts_by_attempt(records, "a") == {}


def test_find_job_names_the_jobs_there_are() -> None:
    doc: dict[str, Any] = {
        "pipeline": "p",
        "number": 2,
        "stages": [{"name": "s", "jobs": [{"name": "a"}, {"name": "b"}]}],
    }
    assert find_job(doc, "b") == (doc["stages"][0], {"name": "b"})
    with pytest.raises(NotFoundError, match=r"^run p #2 has no job 'c' \(jobs: a, b\)$"):
        find_job(doc, "c")


async def test_log_text_keeps_a_character_split_between_pieces() -> None:
    async def pieces() -> AsyncIterator[LogPiece]:
        yield LogPiece(1, 1, "stdout", b"caf\xc3")
        yield LogPiece(1, 2, "stderr", b"\xe2\x9c")
        yield LogPiece(1, 3, "stdout", b"\xa9!")
        yield LogPiece(1, 4, "stderr", b"\x93 \xff")
        yield LogPiece(2, 1, "stdout", b"\xa9")

    texts = [(c["attempt"], c["stream"], c["text"]) async for c in log_chunks(pieces())]
    assert texts == [
        (1, "stdout", "caf"),
        (1, "stderr", ""),
        (1, "stdout", "é!"),
        (1, "stderr", "✓ \ufffd"),
        (2, "stdout", "\ufffd"),
    ]
