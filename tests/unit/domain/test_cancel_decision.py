"""decide_cancel: one decision for a cancel request, on the server and with --local."""

from __future__ import annotations

import pytest

from xxci.common.errors import NotFoundError
from xxci.common.events import CancelRequested
from xxci.orchestrator.domain.cancel import decide_cancel

from .harness import Scenario, job, pipeline


def test_a_running_run_is_canceled() -> None:
    s = Scenario(pipeline(job("a"), job("b")))
    decision = decide_cancel(s.state, reason="requested by user")
    assert decision.accepted
    assert decision.message == "cancel requested for run of demo #7"
    assert decision.events == (CancelRequested(job="", reason="requested by user"),)


def test_one_job_is_named() -> None:
    s = Scenario(pipeline(job("a"), job("b")))
    decision = decide_cancel(s.state, "b")
    assert decision.message == "cancel requested for job b of demo #7"
    assert decision.events == (CancelRequested(job="b"),)


def test_a_finished_run_is_not_touched() -> None:
    s = Scenario(pipeline(job("a")))
    s.run("a")
    decision = decide_cancel(s.state)
    assert not decision.accepted
    assert decision.message == "run demo #7 already finished (SUCCESS)"
    assert decision.events == ()


def test_an_unknown_job_is_not_found() -> None:
    s = Scenario(pipeline(job("a")))
    with pytest.raises(NotFoundError, match=r"^run demo #7 has no job 'nope'$"):
        decide_cancel(s.state, "nope")
