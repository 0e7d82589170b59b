"""Masking secrets in a job's output before it leaves the worker.

Every occurrence of a value to mask, of its base64 form (padded or not), is replaced
by ``[MASKED]``. Output arrives in pieces, so a value may be split between two pieces
(``printf`` twice, a pipe's buffer boundary): :class:`StreamMasker` holds back the end
of a piece that could be the start of a value until the next piece (or
:meth:`~StreamMasker.flush`) says whether it is. What it holds is shorter than the
longest value, so output is delayed only while it looks like the start of a secret.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

__all__ = ["MASK", "MIN_MASKED_BYTES", "Masker", "StreamMasker", "mask_forms"]

MASK = b"[MASKED]"
MIN_MASKED_BYTES = 1
"""A secret of any length is masked (``masked: true`` variables are filtered by the
orchestrator, which masks only values of at least 4 characters)."""


def mask_forms(value: bytes) -> set[bytes]:
    """``value`` and the base64 forms of it that a job may print."""
    encoded = base64.b64encode(value)
    return {value, encoded, encoded.rstrip(b"=")} - {b""}


class Masker:
    """The values to mask; makes a :class:`StreamMasker` per output stream."""

    def __init__(self, values: Iterable[bytes]) -> None:
        forms: set[bytes] = set()
        for value in values:
            forms |= mask_forms(value)
        # Longest first: where two forms start at one place, the longer one is masked.
        self.patterns = tuple(sorted(forms, key=lambda p: (-len(p), p)))
        self._regex = (
            re.compile(b"|".join(re.escape(p) for p in self.patterns)) if self.patterns else None
        )
        self._prefixes = {p[:k] for p in self.patterns for k in range(1, len(p))}
        self._longest = max((len(p) for p in self.patterns), default=0)

    def __bool__(self) -> bool:
        return self._regex is not None

    def stream(self) -> StreamMasker:
        return StreamMasker(self)

    def mask(self, data: bytes) -> bytes:
        """``data`` masked, as a whole."""
        return self._regex.sub(MASK, data) if self._regex is not None else data

    def mask_text(self, text: str) -> str:
        return self.mask(text.encode()).decode("utf-8", "replace") if self else text

    def split(self, data: bytes) -> tuple[bytes, bytes]:
        """``data`` masked up to what may be the start of a value, and that rest."""
        if self._regex is None:
            return data, b""
        last_end = 0
        for match in self._regex.finditer(data):
            last_end = match.end()
        cut = len(data)
        for size in range(min(self._longest - 1, len(data) - last_end), 0, -1):
            if data[-size:] in self._prefixes:
                cut = len(data) - size
                break
        return self._regex.sub(MASK, data[:cut]), data[cut:]


class StreamMasker:
    """Masks one stream fed in pieces; see the module docstring."""

    def __init__(self, masker: Masker) -> None:
        self._masker = masker
        self._held = b""

    def feed(self, data: bytes) -> bytes:
        """What of ``self.held + data`` can be passed on now, masked."""
        out, self._held = self._masker.split(self._held + data)
        return out

    def flush(self) -> bytes:
        """Everything held, masked: the stream ended (or must be passed on now)."""
        held, self._held = self._held, b""
        return self._masker.mask(held)
