"""Text from users, made safe to print on a terminal and to send as UTF-8.

Names and values come from pipeline files and command lines, and a terminal obeys the
control characters in whatever it prints: ``\\x1b]0;...`` retitles the window,
``\\x1b[2J`` clears it, a carriage return hides what came before. Wherever xxci prints
a name it goes through :func:`printable`, which writes each such character as a
Python escape (``\\x1b``), so what is shown is what is there.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
"""C0 and C1 controls, DEL, lone surrogates, line and paragraph separators, and the
bidirectional overrides that reorder what follows them."""


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control, lone surrogate and bidirectional override escaped
    (``\\n`` and ``\\t`` kept with ``keep_newlines``)."""
    if text.isprintable() and not _UNSAFE.search(text):
        return text
    if keep_newlines:
        return "".join(
            part if part in ("\n", "\t") else _UNSAFE.sub(_escape, part)
            for part in re.split("([\n\t])", text)
        )
    return _UNSAFE.sub(_escape, text)
