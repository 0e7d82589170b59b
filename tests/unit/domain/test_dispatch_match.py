"""dispatch.match: queued jobs to workers."""

from __future__ import annotations

import random

from xxci.orchestrator.domain.dispatch import (
    Assignment,
    QueuedJob,
    WorkerSlot,
    match,
    required_labels,
    resource_key,
)


def q(job: str, order: int, *tags: str, run: str = "r1") -> QueuedJob:
    return QueuedJob(run_id=run, job=job, tags=frozenset(tags), order=order)


def w(worker_id: str, free: int, *labels: str) -> WorkerSlot:
    return WorkerSlot(worker_id=worker_id, free=free, labels=frozenset(labels))


def test_oldest_first_across_runs_within_capacity() -> None:
    queued = [q("late", 30, run="r2"), q("first", 10, run="r1"), q("second", 20, run="r2")]
    assert match(queued, [w("w1", 2)]) == [
        Assignment("r1", "first", "w1"),
        Assignment("r2", "second", "w1"),
    ]


def test_spreads_by_most_free_capacity_ties_to_the_smallest_id() -> None:
    queued = [q(f"j{i}", i) for i in range(5)]
    result = match(queued, [w("w2", 2), w("w1", 2), w("w3", 1)])
    assert [a.worker_id for a in result] == ["w1", "w2", "w1", "w2", "w3"]


def test_tags_must_all_be_carried_by_the_worker() -> None:
    queued = [q("gpu", 1, "gpu", "linux"), q("any", 2), q("arm", 3, "arm")]
    workers = [w("big", 3, "linux"), w("cuda", 1, "gpu", "linux")]
    assert match(queued, workers) == [
        Assignment("r1", "gpu", "cuda"),
        Assignment("r1", "any", "big"),
    ]


def test_a_job_no_worker_can_take_does_not_block_the_queue() -> None:
    queued = [q("arm", 1, "arm"), q("x86", 2)]
    assert match(queued, [w("w1", 1)]) == [Assignment("r1", "x86", "w1")]


def test_nothing_to_do() -> None:
    assert match([], [w("w1", 4)]) == []
    assert match([q("a", 1)], []) == []
    assert match([q("a", 1)], [w("w1", 0), w("w2", -1)]) == []


def test_deterministic_whatever_the_input_order() -> None:
    queued = [q(f"j{i}", i, *(["gpu"] if i % 3 == 0 else [])) for i in range(12)]
    workers = [w("w1", 3, "gpu"), w("w2", 4), w("w3", 2, "gpu"), w("w4", 1)]
    expected = match(queued, workers)
    assert len(expected) == 10
    rng = random.Random(7)
    for _ in range(20):
        rng.shuffle(queued)
        rng.shuffle(workers)
        assert match(iter(queued), iter(workers)) == expected
    per_worker = {s.worker_id: sum(a.worker_id == s.worker_id for a in expected) for s in workers}
    assert all(per_worker[s.worker_id] <= s.free for s in workers)


def test_a_local_run_needs_no_labels() -> None:
    assert required_labels(["docker", "linux"], local=False) == {"docker", "linux"}
    assert required_labels(["docker", "linux"], local=True) == frozenset()


def test_one_job_of_a_resource_group_at_a_time() -> None:
    group = resource_key("repo", "production")
    queued = [
        QueuedJob("r1", "deploy-a", order=1, resource=group),
        QueuedJob("r2", "deploy-b", order=2, resource=group),
        QueuedJob("r2", "other", order=3),
        QueuedJob("r3", "elsewhere", order=4, resource=resource_key("other-repo", "production")),
    ]
    workers = [WorkerSlot("w1", 4)]
    assert [a.job for a in match(queued, workers)] == ["deploy-a", "other", "elsewhere"]
    assert [a.job for a in match(queued[1:], workers, busy=[group])] == ["other", "elsewhere"]
