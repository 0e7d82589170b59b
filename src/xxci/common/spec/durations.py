"""Durations as written in pipeline files: ``90s``, ``30m``, ``1h 30m``, ``2h``, ``3600``.

Units are ``d``, ``h``, ``m`` and ``s`` (long forms such as ``2 hours 30 minutes`` work
too, as in GitLab), each at most once and largest first; a bare integer is seconds.
"""

from __future__ import annotations

import re

_UNITS: tuple[tuple[str, str, int], ...] = (
    ("days", r"d|days?", 86400),
    ("hours", r"h|hrs?|hours?", 3600),
    ("minutes", r"m|mins?|minutes?", 60),
    ("seconds", r"s|secs?|seconds?", 1),
)
_PATTERN = re.compile(
    r"\s*"
    + r"\s*".join(rf"(?:(?P<{name}>\d+)\s*(?:{units})(?![a-z]))?" for name, units, _ in _UNITS)
    + r"\s*",
    re.IGNORECASE,
)


def parse_duration(value: str | int) -> int:
    """The number of seconds ``value`` stands for; ``ValueError`` if it is not a duration.

    >>> parse_duration("1h 30m")
    5400
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int):
        return value
    text = value.strip()
    if text.isdigit():
        return int(text)
    match = _PATTERN.fullmatch(text)
    if not text or match is None or not any(match.groupdict().values()):
        raise ValueError(f"not a duration: {value!r}")
    return sum(
        int(match.group(name)) * seconds
        for name, _, seconds in _UNITS
        if match.group(name) is not None
    )


def format_duration(seconds: float) -> str:
    """How a duration reads in a file or a message: ``5400`` -> ``1h 30m``.

    Whole seconds give the shortest form :func:`parse_duration` reads back; under a
    minute a fraction is kept (``0.5s``), from a minute on it is rounded away.
    """
    if seconds < 60:
        return f"{seconds:g}s"
    parts = []
    rest = round(seconds)
    for _, units, size in _UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{units[0]}")
    return " ".join(parts)
