"""Following a run through a connection that drops: one line when the orchestrator is
lost, one when it is back, nothing shown twice; lost attempts said as such; hints that
can be pasted."""

from __future__ import annotations

import io
from collections.abc import AsyncGenerator
from typing import Any, cast

import pytest
from rich.console import Console

from tests.unit.domain.harness import Scenario, job, pipeline
from xxci.cli.display import follow
from xxci.cli.display.follow import BACK, LOST, follow_run, log_hints
from xxci.common.api import LogPiece, OrchestratorApi
from xxci.common.errors import ConnectionFailed
from xxci.common.events import JobAttemptLost, RecordedEvent

pytestmark = pytest.mark.timeout(10)


class DroppingApi:
    """Watches that replay the run from its start, each broken off (the orchestrator
    lost) after the number of events given, ``failures`` times in a row between."""

    def __init__(self, records: list[RecordedEvent], cuts: list[int], failures: int = 2) -> None:
        self.records = records
        self.cuts = list(cuts)
        self.failures = failures
        self.calls = 0

    async def watch(self, run: str) -> AsyncGenerator[RecordedEvent, None]:
        self.calls += 1
        if self.calls > 1 and self.failures:
            self.failures -= 1
            raise ConnectionFailed("cannot reach the orchestrator at ci:7420: connection refused")
        if self.calls > 1:
            self.failures = 2
        cut = self.cuts.pop(0) if self.cuts else len(self.records)
        for rec in self.records[:cut]:
            yield rec
        if cut < len(self.records):
            raise ConnectionFailed(
                "cannot reach the orchestrator at ci:7420: the connection was closed"
            )

    async def logs(self, *args: Any, **kwargs: Any) -> AsyncGenerator[LogPiece, None]:
        return
        yield

    async def cancel(self, run: str, job: str = "") -> None:
        raise AssertionError("not canceled")


def failed_run() -> Scenario:
    s = Scenario(pipeline(job("build", "build"), job("boom", "test", needs=["build"])))
    s.run("build")
    s.start("boom")
    s.record(JobAttemptLost(job="boom", attempt=1, reason="worker w1 disconnected"))
    s.run("boom", exit_code=3)
    return s


async def follow_with(api: DroppingApi, again: str) -> list[str]:
    out = io.StringIO()
    console = Console(file=out, width=200)
    ok = await follow_run(
        cast(OrchestratorApi, api), "r1", console, verbose=False, local=False, again=again
    )
    assert not ok
    return out.getvalue().splitlines()


async def test_a_dropped_watch_is_said_once_and_nothing_is_shown_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(follow, "RETRY_SECONDS", 0.01)
    s = failed_run()
    api = DroppingApi(s.records, cuts=[4, 9, 15])
    lines = await follow_with(api, "--server ci:7420")

    assert api.calls == 1 + 3 * 3  # three drops, each with two failed tries, then back
    assert lines.count(LOST) == 3 and lines.count(BACK) == 3
    # Otherwise the very lines of a watch that never dropped, in the same order.
    unbroken = await follow_with(DroppingApi(s.records, cuts=[]), "--server ci:7420")
    assert [line for line in lines if line not in (LOST, BACK)] == unbroken
    assert any(
        line.endswith(
            "   boom: attempt 1 lost (worker w1 disconnected), retrying on another worker"
        )
        for line in unbroken
    )
    assert unbroken[-1] == "output of boom: xxci logs --server ci:7420 'demo#7' boom"


async def test_lost_for_good_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(follow, "RETRY_SECONDS", 0.01)
    monkeypatch.setattr(follow, "RECONNECT_SECONDS", 0.05)
    api = DroppingApi(failed_run().records, cuts=[3], failures=10**6)
    with pytest.raises(ConnectionFailed, match="connection refused"):
        await follow_with(api, "--server ci:7420")


def test_hints_are_whole_commands_that_name_the_orchestrator() -> None:
    state = failed_run().state
    assert log_hints(state, "--server ci.example.com:7420 --tls-ca '/etc/my ca.pem'") == [
        "output of boom: xxci logs --server ci.example.com:7420 --tls-ca '/etc/my ca.pem'"
        " 'demo#7' boom"
    ]
    assert log_hints(state, "--local") == ["output of boom: xxci logs --local 'demo#7' boom"]
