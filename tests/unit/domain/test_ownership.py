"""Whose attempt it is: a worker speaks only for the attempts it was given."""

from __future__ import annotations

from xxci.orchestrator.domain.lookup import assigned_to

from .harness import Scenario, job, pipeline

NOT_ITS_OWN = "the attempt is not assigned to this worker"


def test_an_attempt_belongs_to_the_worker_it_was_assigned_to_even_after_it_ended() -> None:
    s = Scenario(pipeline(job("a")))
    assert assigned_to(s.state, "a", 1, "w1") == "attempt 1 of the job was never assigned"
    s.assign("a", worker="w1")
    assert assigned_to(s.state, "a", 1, "w1") == ""
    assert assigned_to(s.state, "a", 1, "w2") == NOT_ITS_OWN
    s.finish("a")
    assert assigned_to(s.state, "a", 1, "w1") == ""
    assert assigned_to(s.state, "a", 1, "w2") == NOT_ITS_OWN


def test_a_lost_attempt_stays_its_worker_s_and_the_next_is_another_s() -> None:
    s = Scenario(pipeline(job("a")))
    s.start("a", worker="w1")
    s.lose("a")
    assert assigned_to(s.state, "a", 1, "w1") == ""
    assert assigned_to(s.state, "a", 2, "w1") == "attempt 2 of the job was never assigned"
    s.assign("a", worker="w2")
    assert assigned_to(s.state, "a", 2, "w2") == ""
    assert assigned_to(s.state, "a", 2, "w1") == NOT_ITS_OWN
    assert assigned_to(s.state, "a", 1, "w2") == NOT_ITS_OWN


def test_a_job_the_run_does_not_have_belongs_to_nobody() -> None:
    s = Scenario(pipeline(job("a")))
    assert assigned_to(s.state, "ghost", 1, "w1") == "no such job"
