"""The recording budget of refused connections, per worker, on a sliding window."""

from __future__ import annotations

import pytest

from xxci.orchestrator.domain.incidents import IncidentBudget


def test_a_burst_is_recorded_then_the_rest_counted_until_the_window_slides() -> None:
    budget = IncidentBudget(burst=3, window=60.0)
    assert [budget.take("w1", t) for t in (0.0, 1.0, 2.0)] == [0, 0, 0]
    assert [budget.take("w1", t) for t in (3.0, 59.9)] == [None, None]
    assert budget.take("w2", 30.0) == 0, "another worker has a budget of its own"
    # The first incident leaves the window at 60 s: one more is recorded, with the
    # count of those left out meanwhile; the next is over budget again.
    assert budget.take("w1", 60.0) == 2
    assert budget.take("w1", 60.5) is None
    assert budget.take("w1", 200.0) == 1


def test_a_budget_must_allow_something() -> None:
    with pytest.raises(ValueError, match="burst must be at least 1"):
        IncidentBudget(burst=0)
    with pytest.raises(ValueError, match="window positive"):
        IncidentBudget(window=0)
