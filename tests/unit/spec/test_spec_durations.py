"""Durations: ``90s``, ``30m``, ``1h 30m``, ``2h``, bare seconds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xxci.common.spec import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("1h 30m", 5400),
        ("1h30m", 5400),
        ("2h", 7200),
        ("1d 2h 3m 4s", 93784),
        ("2 hours 30 minutes", 9000),
        ("10 mins", 600),
        (" 45 ", 45),
        ("3600", 3600),
        (120, 120),
    ],
)
def test_parse_duration(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1x", "30m 1h", "1.5h", "1ms", "1 h 1 h", "-5m", True])
def test_not_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.5, "0.5s"),
        (1, "1s"),
        (59, "59s"),
        (60, "1m"),
        (90, "1m 30s"),
        (90.4, "1m 30s"),
        (3600, "1h"),
        (3661, "1h 1m 1s"),
        (5400, "1h 30m"),
        (86461, "1d 1m 1s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=1, max_value=10**7))
def test_format_then_parse_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
