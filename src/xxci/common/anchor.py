"""An anchor of the event log's hash chain: ``SEQ:HASH``, a point an auditor keeps.

``xxci verify --anchor`` prints the chain's head as one; given one later, verify
proves that nothing up to that event was rewritten. Pure: the value and its format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Anchor", "parse_anchor"]

_ANCHOR = re.compile(r"(?P<seq>[0-9]+):(?P<hash>[0-9a-f]{64})")


@dataclass(frozen=True)
class Anchor:
    """A point of the chain an auditor kept: event ``seq`` had hash ``hash``."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


def parse_anchor(text: str) -> Anchor:
    """``Anchor`` from ``SEQ:HASH`` (what ``xxci verify --anchor`` prints); ValueError
    naming the expected shape otherwise."""
    match = _ANCHOR.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"not an anchor: {text!r} (expected SEQ:HASH, as `xxci verify --anchor` prints)"
        )
    return Anchor(int(match.group("seq")), match.group("hash"))
