"""Why jobs wait, from the fold and the workers' free slots and labels. Pure."""

from __future__ import annotations

from tests.unit.domain.harness import Scenario, job, pipeline
from xxci.common.attempts import AttemptKey
from xxci.orchestrator.views.status import WorkerView, queue_reasons, status_report


def queued_run() -> Scenario:
    """Stage test runs: gpu (tags gpu) and plain are queued, after waits for plain."""
    return Scenario(
        pipeline(
            job("gpu", tags=["gpu"]),
            job("plain"),
            job("after", needs=["plain"]),
            job("older"),
        )
    )


def w(name: str, capacity: int = 1, labels: tuple[str, ...] = (), running: int = 0,
      draining: bool = False) -> WorkerView:  # fmt: skip
    busy = tuple(AttemptKey("other", f"j{i}", 1) for i in range(running))
    return WorkerView(name, name, capacity, frozenset(labels), draining, busy)


def reasons(s: Scenario, *workers: WorkerView) -> dict[str, str]:
    return {job: why for (_, job), why in queue_reasons([s.state], list(workers)).items()}


def test_no_worker_at_all() -> None:
    s = queued_run()
    assert reasons(s) == {
        "gpu": "no worker is connected",
        "plain": "no worker is connected",
        "older": "no worker is connected",
    }


def test_labels_busy_draining_and_about_to_be_assigned() -> None:
    s = queued_run()
    assert reasons(s, w("w1", capacity=2, running=2)) == {
        "gpu": "no connected worker has the label gpu",
        "plain": "every worker that can take it is busy (w1 2/2)",
        "older": "every worker that can take it is busy (w1 2/2)",
    }
    assert reasons(s, w("g1", labels=("gpu",), draining=True), w("w1", running=1))["gpu"] == (
        "the workers that could take it are draining: g1"
    )
    # One free slot: the oldest queued job gets it, the next waits its turn.
    assert reasons(s, w("w1", capacity=1)) == {
        "gpu": "no connected worker has the label gpu",
        "plain": "worker w1 has a free slot: about to be assigned",
        "older": "older queued jobs take the free slots first",
    }


def test_tags_need_every_label() -> None:
    s = Scenario(pipeline(job("both", tags=["gpu", "linux"])))
    assert reasons(s, w("g", labels=("gpu",))) == {
        "both": "no connected worker has the labels gpu, linux"
    }
    assert reasons(s, w("g", labels=("gpu", "linux", "x"))) == {
        "both": "worker g has a free slot: about to be assigned"
    }


def test_status_document_lists_waiting_and_running_jobs() -> None:
    s = queued_run()
    s.start("older", worker="w1")
    doc = status_report([s.state], [w("w1", running=1)])
    [run] = doc["runs"]
    assert (run["pipeline"], run["number"], run["status"], run["stage"]) == (
        "demo",
        7,
        "RUNNING",
        "test",
    )
    assert "stages" not in run
    jobs = {j["name"]: (j["status"], j["reason"]) for j in run["jobs"]}
    assert jobs == {
        "gpu": ("QUEUED", "no connected worker has the label gpu"),
        "plain": ("QUEUED", "every worker that can take it is busy (w1 1/1)"),
        "after": ("PENDING", "waiting for plain"),
        "older": ("RUNNING", None),
    }
    assert doc["workers"] == [
        {
            "id": "w1",
            "name": "w1",
            "capacity": 1,
            "free": 0,
            "labels": [],
            "draining": False,
            "running": [
                {"run_id": "other", "pipeline": None, "number": None, "job": "j0", "attempt": 1}
            ],
        }
    ]


def test_a_need_that_failed_and_a_lost_attempt() -> None:
    s = Scenario(pipeline(job("a"), job("b", needs=["a"]), job("c")))
    s.start("c")
    s.lose("c")
    jobs = {j["name"]: j["reason"] for j in status_report([s.state], [])["runs"][0]["jobs"]}
    assert jobs["b"] == "waiting for a"
    # the scheduler re-queued the lost attempt at once
    assert jobs["c"] == "no worker is connected"
    assert s.job("c").attempt == 2
