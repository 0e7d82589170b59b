"""The hash chain of the event log: each event sealed with the hash of the one before.

Every event stores ``hash = sha256(previous event's hash, this event's content)``, the
content being its stream, version, type, data (as stored) and time; the first event
of a log chains from ``GENESIS``. The chain follows the global order (``seq``), so
editing, inserting, deleting or reordering a row breaks it at that row, and a head
hash kept elsewhere (an *anchor*, ``SEQ:HASH``) proves later that nothing up to it
was rewritten, even by someone who recomputed the whole chain.

A log written before the chain existed is sealed as it is found when first opened:
its events get their hashes then, and the log records up to which event that was
(``sealed_up_to``): the chain vouches for those only from that moment on.

This module is pure: hashing and the diagnosis of a break (the anchor format is
:mod:`xxci.common.anchor`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from xxci.common.anchor import Anchor, parse_anchor

__all__ = [
    "GENESIS",
    "Anchor",
    "ChainReport",
    "ChainRow",
    "diagnose",
    "event_hash",
    "parse_anchor",
    "seal",
]

GENESIS = "0" * 64
"""The "previous hash" of a log's first event."""


def event_hash(prev: str, stream: str, version: int, type_name: str, data: str, at: str) -> str:
    """The hash that seals one event after the event whose hash is ``prev``."""
    content = "\x1f".join((prev, stream, str(version), type_name, at, data))
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainRow:
    """One stored event as the chain sees it (``hash`` None: the row has none)."""

    seq: int
    stream: str
    version: int
    type: str
    data: str
    at: str
    hash: str | None

    def sealed_after(self, prev: str) -> str:
        return event_hash(prev, self.stream, self.version, self.type, self.data, self.at)

    def follows(self, prev: str) -> bool:
        return self.hash == self.sealed_after(prev)

    def name(self) -> str:
        return f"event {self.seq} ({self.stream} v{self.version} {self.type})"


@dataclass(frozen=True)
class ChainReport:
    """What checking the chain found.

    ``events`` were checked up to ``head`` (None: an empty log). ``problem`` names the
    first break ("" when the chain holds); ``anchor_problem`` says why a given anchor
    does not hold ("" when it does, or none was given).
    """

    events: int
    head: Anchor | None
    sealed_up_to: int
    sealed_at: str
    problem: str = ""
    anchor_problem: str = ""


def diagnose(
    before: Sequence[ChainRow], row: ChainRow, following: ChainRow | None, known: dict[str, int]
) -> str:
    """Why ``row`` breaks the chain, ``before`` being the (up to two) rows before it,
    the nearest last, and ``following`` the row after it; ``known`` maps every stored
    hash of the log to its seq. The story told is the simplest the hashes support."""
    prev = before[-1] if before else None
    prev_hash = prev.hash or "" if prev is not None else GENESIS
    if row.hash is None:
        return f"{row.name()} has no hash: it was written by hand, or by an older xxci"
    if len(before) == 2 and prev is not None and row.follows(before[0].hash or ""):
        first = before[0].seq
        return f"{prev.name()} was inserted: {row.name()} was written right after event {first}"
    for candidate, seq in known.items():
        if seq != row.seq and row.follows(candidate):
            where = f"event {prev.seq}" if prev is not None else "the start of the log"
            return (
                f"{row.name()} is out of order: it was written after event {seq}, not after {where}"
            )
    if prev is not None and row.follows(GENESIS):
        return f"{row.name()} is out of order: it was the first event of the log"
    if following is not None and following.follows(prev_hash):
        return f"{row.name()} was inserted: the event after it was written right after {_pos(prev)}"
    expected = prev.seq + 1 if prev is not None else 1
    if row.seq > expected:
        if row.seq == expected + 1:
            return f"event {expected} was deleted (the chain breaks at {row.name()})"
        return f"events {expected}..{row.seq - 1} were deleted (the chain breaks at {row.name()})"
    if following is None or following.follows(row.hash):
        return f"{row.name()} was edited: its content no longer matches its hash"
    return (
        f"the chain breaks at {row.name()}: it was edited together with its hash,"
        " or an event before it was deleted"
    )


def _pos(prev: ChainRow | None) -> str:
    return f"event {prev.seq}" if prev is not None else "the start of the log"


def seal(rows: Sequence[ChainRow], prev: str) -> list[str]:
    """The hashes of ``rows`` chained in order after ``prev``."""
    hashes = []
    for row in rows:
        prev = row.sealed_after(prev)
        hashes.append(prev)
    return hashes
