"""The system clock and the fake one keep the same contract."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from tests.fakes.clock import FakeClock
from xxci.common.clock import SYSTEM_CLOCK, Clock


@pytest.mark.parametrize("clock", [SYSTEM_CLOCK, FakeClock()], ids=["system", "fake"])
def test_readings_are_utc_and_never_go_back(clock: Clock) -> None:
    first_now, first_mono = clock.now(), clock.monotonic()
    if isinstance(clock, FakeClock):
        clock.advance(0.5)
    second_now, second_mono = clock.now(), clock.monotonic()
    assert first_now.utcoffset() == timedelta(0) and second_now.tzinfo is UTC
    assert second_now >= first_now
    assert second_mono >= first_mono


def test_the_fake_clock_moves_only_when_told_and_both_readings_together() -> None:
    clock = FakeClock()
    now, mono = clock.now(), clock.monotonic()
    assert (clock.now(), clock.monotonic()) == (now, mono)
    clock.advance(90)
    assert clock.now() - now == timedelta(seconds=90)
    assert clock.monotonic() - mono == 90
    with pytest.raises(ValueError, match="time does not go back"):
        clock.advance(-1)
