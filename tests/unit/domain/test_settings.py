"""Settings: the defaults are `xxci server`'s, and nonsense is refused by name."""

from __future__ import annotations

import pytest

from xxci.orchestrator.domain.settings import Settings


def test_defaults() -> None:
    s = Settings()
    assert (s.lease_ttl, s.heartbeat_interval, s.cancel_grace) == (15.0, 3.0, 10.0)
    assert s.disconnect_grace == 5.0
    assert (s.cancel_backstop, s.timeout_grace, s.max_lost_attempts, s.tick) == (60, 60, 3, 1)


def test_a_grace_of_zero_is_allowed() -> None:
    assert Settings(cancel_grace=0, cancel_backstop=0, timeout_grace=0).cancel_grace == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("lease_ttl", 0, "lease ttl must be more than 0, not 0"),
        ("heartbeat_interval", -1, "heartbeat interval must be more than 0, not -1"),
        ("tick", 0, "tick must be more than 0, not 0"),
        ("cancel_grace", -0.5, "cancel grace must be at least 0, not -0.5"),
        ("timeout_grace", -1, "timeout grace must be at least 0, not -1"),
        ("disconnect_grace", -1, "disconnect grace must be at least 0, not -1"),
        ("max_lost_attempts", 0, "max lost attempts must be at least 1, not 0"),
    ],
)
def test_nonsense_is_refused(field: str, value: float, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        Settings(**{field: value})  # type: ignore[arg-type]
    assert str(raised.value) == message
