"""Which orchestrator drives a run: the same answer everywhere, and little moves."""

from __future__ import annotations

import pytest

from xxci.orchestrator.domain.placement import run_owner

RUNS = [f"run{i}" for i in range(300)]


def test_every_member_computes_the_same_owner_whatever_the_order() -> None:
    for run_id in RUNS:
        assert run_owner(run_id, ["a", "b", "c"]) == run_owner(run_id, ["c", "a", "b"])


def test_runs_spread_over_the_members() -> None:
    owners = [run_owner(run_id, ["a", "b", "c"]) for run_id in RUNS]
    assert all(owners.count(m) > 60 for m in "abc"), {m: owners.count(m) for m in "abc"}


def test_when_a_member_goes_only_its_runs_move() -> None:
    before = {run_id: run_owner(run_id, ["a", "b", "c"]) for run_id in RUNS}
    after = {run_id: run_owner(run_id, ["a", "c"]) for run_id in RUNS}
    moved = [run_id for run_id in RUNS if before[run_id] != after[run_id]]
    assert moved and all(before[run_id] == "b" for run_id in moved)


def test_a_lone_member_owns_everything_and_none_is_an_error() -> None:
    assert {run_owner(run_id, ["solo"]) for run_id in RUNS} == {"solo"}
    with pytest.raises(ValueError, match="no orchestrator to drive the run"):
        run_owner("r", [])
