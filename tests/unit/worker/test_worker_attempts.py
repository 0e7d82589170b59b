"""The attempts a worker holds: which assignments it takes on, which it refuses and why,
and which it answers again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.fakes.clock import START, FakeClock
from tests.fakes.executor import FakeExecutor, FakeJob, FakeStep
from xxci.common.attempts import AttemptKey
from xxci.common.status import JobStatus
from xxci.worker.attempt.messages import (
    Accepted,
    AttemptMessage,
    Finished,
    MessageSink,
    Started,
)
from xxci.worker.attempt.runner import AttemptRunner
from xxci.worker.connection.attempts import AcceptAgain, Attempts, Ignore, Refuse, Taken
from xxci.worker.connection.outbox import Outboxes
from xxci.worker.connection.protocol import AssignmentError
from xxci.worker.executor import Assignment

pytestmark = pytest.mark.timeout(5)


class NoBlobs:
    async def download(self, digest: str, dest: Path) -> None:
        raise AssertionError("nothing to fetch")

    async def upload(self, path: Path) -> str:
        raise AssertionError("nothing to upload")


def job(name: str) -> Assignment:
    return Assignment("r1", name, 1, "test", "busybox", ("true",))


class World:
    def __init__(self, tmp_path: Path, capacity: int = 1) -> None:
        self.gate = asyncio.Event()
        self.executor = FakeExecutor(default=lambda _: FakeJob(steps=[FakeStep(gate=self.gate)]))
        self.outboxes = Outboxes()
        self.changes = 0
        self._changed_event = asyncio.Event()
        self.attempts = Attempts(capacity, self.outboxes, self._runner, self._changed)
        self._tmp = tmp_path

    def _runner(self, assignment: Assignment, sink: MessageSink) -> AttemptRunner:
        return AttemptRunner(
            assignment, sink, self.executor, NoBlobs(), self._tmp, clock=FakeClock()
        )

    def _changed(self) -> None:
        self.changes += 1
        self._changed_event.set()

    async def until(self, ended: int) -> None:
        """Wait until ``ended`` attempts have ended (the attempts said so)."""
        async with asyncio.timeout(2):
            while self.changes < ended:
                self._changed_event.clear()
                await self._changed_event.wait()

    async def ended(self) -> None:
        """Wait until no attempt runs."""
        async with asyncio.timeout(2):
            while len(self.attempts):
                self._changed_event.clear()
                await self._changed_event.wait()

    async def messages_by_job(self) -> list[tuple[str, AttemptMessage]]:
        """What the outboxes hand out now, and whose it is."""
        out: list[tuple[str, AttemptMessage]] = []
        while True:
            try:
                async with asyncio.timeout(0.05):
                    pending = await self.outboxes.next()
            except TimeoutError:
                return out
            self.outboxes.written(pending)
            out.append((pending.key.job, pending.message))

    async def messages(self) -> list[AttemptMessage]:
        return [message for _, message in await self.messages_by_job()]


async def test_an_assignment_is_taken_on_and_accepted_first(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.outboxes.set_online(True)
    assert await world.attempts.offer(job("a").key, job("a"), draining=False) == Taken()
    assert world.attempts.keys() == [AttemptKey("r1", "a", 1)]
    world.gate.set()
    await world.ended()
    messages = await world.messages()
    assert messages[:2] == [Accepted(), Started("fake-a-1", "sha256:fake", at=START)]
    assert isinstance(messages[-1], Finished)
    assert world.changes == 1


async def test_an_assignment_sent_again_is_answered_by_what_became_of_it(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    key = job("a").key
    await world.attempts.offer(key, job("a"), draining=False)
    assert await world.attempts.offer(key, job("a"), draining=False) == AcceptAgain()
    world.gate.set()
    await world.ended()
    # Ended here, its Finished not acknowledged yet: nothing to say, nothing to run.
    assert await world.attempts.offer(key, job("a"), draining=False) == Ignore()
    assert len(world.executor.all_runs) == 1
    assert world.attempts.keys() == [key]  # its Finished was never written


async def test_refusals_say_why_the_first_reason_first(tmp_path: Path) -> None:
    world = World(tmp_path, capacity=1)
    bad = AssignmentError("job 'x' has no image")
    assert await world.attempts.offer(job("x").key, bad, draining=True) == Refuse(
        "worker is draining"
    )
    assert await world.attempts.offer(job("x").key, bad, draining=False) == Refuse(
        "job 'x' has no image"
    )
    await world.attempts.offer(job("a").key, job("a"), draining=False)
    assert await world.attempts.offer(job("b").key, bad, draining=False) == Refuse(
        "worker is at capacity (1 of 1 busy)"
    )
    world.gate.set()
    await world.ended()
    assert [run.assignment.job for run in world.executor.all_runs] == ["a"]


async def test_cancels_reach_the_attempt_they_name(tmp_path: Path) -> None:
    world = World(tmp_path, capacity=2)
    world.outboxes.set_online(True)
    await world.attempts.offer(job("a").key, job("a"), draining=False)
    await world.attempts.offer(job("b").key, job("b"), draining=False)
    world.attempts.cancel(AttemptKey("r1", "nowhere", 1), None, "user")  # not here: no-op
    world.attempts.cancel(job("a").key, 2.0, "user")
    await world.until(ended=1)
    assert len(world.attempts) == 1  # b runs on
    world.attempts.cancel_all()
    await world.ended()
    finished = {job: m for job, m in await world.messages_by_job() if isinstance(m, Finished)}
    assert sorted(finished) == ["a", "b"]
    assert all(m.status is JobStatus.CANCELED for m in finished.values())


async def test_a_revoked_attempt_is_killed_without_its_grace(tmp_path: Path) -> None:
    world = World(tmp_path, capacity=2)
    # Both jobs trap SIGTERM and would take a minute to stop; the grace is a minute too.
    world.executor.default = lambda _: FakeJob(steps=[FakeStep(gate=world.gate)], stop_seconds=60)
    world.outboxes.set_online(True)
    for name in ("a", "b"):
        await world.attempts.offer(job(name).key, job(name), draining=False)
    async with asyncio.timeout(2):
        for name in ("a", "b"):
            await world.executor.wait_started(name)
    world.attempts.cancel(job("a").key, 60.0, "user")  # its grace begins
    world.attempts.cancel(job("a").key, None, "no longer this worker's", revoke=True)
    world.attempts.cancel(job("b").key, None, "no longer this worker's", revoke=True)
    await world.ended()  # within the test's 5 s: neither waited for its grace

    assert all(run.kill.is_set() for run in world.executor.all_runs)
    finished = {job: m for job, m in await world.messages_by_job() if isinstance(m, Finished)}
    assert {job: m.status for job, m in finished.items()} == {
        "a": JobStatus.CANCELED,
        "b": JobStatus.CANCELED,
    }
