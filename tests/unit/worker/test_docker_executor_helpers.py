"""Pure helpers of the Docker executor."""

from __future__ import annotations

import pytest

from xxci.worker.docker_executor import format_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1, "1s"),
        (0.5, "0.5s"),
        (59, "59s"),
        (60, "1m"),
        (90, "1m30s"),
        (3600, "1h"),
        (3661, "1h1m1s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
