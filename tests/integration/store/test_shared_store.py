"""Several orchestrators on one store: two store objects on the same place stand for two
processes. Ordering and numbering hold on every backend; waking followers of the
other process is what a shared backend (PostgreSQL) adds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import psycopg

from xxci.common.events import JobQueued, RunCreated, run_stream
from xxci.orchestrator.store import EventStorage, LogChunk
from xxci.orchestrator.store._sqlite import format_time
from xxci.orchestrator.store.event_writer import Append
from xxci.orchestrator.store.postgres import PgEventStore, PgLogStore
from xxci.orchestrator.store.postgres.event_writer import write_group

from .conftest import Backend
from .test_run_index import make


async def test_two_writers_make_one_gapless_order_a_follower_never_skips(
    backend: Backend,
) -> None:
    """Appends from two processes interleave; a follower reading pages as they commit
    sees seqs 1..n exactly once, in order, and each stream's versions in order."""
    a, b = await backend.open_events(), await backend.open_events()
    per_writer, streams = 60, 4
    seen: list[int] = []

    async def write(store: EventStorage, name: str) -> None:
        async def one_stream(s: int) -> None:
            for version in range(per_writer // streams):
                await store.append(f"{name}-{s}", version, [JobQueued(job="j")])

        await asyncio.gather(*(one_stream(s) for s in range(streams)))

    async def follow(store: EventStorage, total: int) -> None:
        since = 0
        while since < total:
            page = await store.read_all(since_seq=since, limit=7)
            if not page:
                await store.wait_for(since, 0.05)
                continue
            seen.extend(r.seq for r in page)
            since = page[-1].seq

    try:
        total = 2 * per_writer
        await asyncio.wait_for(
            asyncio.gather(write(a, "a"), write(b, "b"), follow(a, total)), timeout=60
        )
        assert seen == list(range(1, total + 1))
        everything = await b.read_all()
        assert [r.seq for r in everything] == seen
        for stream in {r.stream for r in everything}:
            versions = [r.version for r in everything if r.stream == stream]
            assert versions == list(range(1, len(versions) + 1))
        assert (await a.check_chain()).problem == ""
    finally:
        await a.close()
        await b.close()


async def test_run_numbers_from_two_writers_are_distinct_and_gapless(backend: Backend) -> None:
    a, b = await backend.open_events(), await backend.open_events()
    try:
        created = await asyncio.gather(
            *(
                store.append_run_created(f"r{i}", make(f"r{i}", "build"))
                for i in range(20)
                for store in ([a] if i % 2 else [b])
            )
        )
        numbers = sorted(
            rec.event.number
            for recs in created
            for rec in recs
            if isinstance(rec.event, RunCreated)
        )
        assert numbers == list(range(1, 21))
        assert [r.number for r in await a.find_runs(pipeline="build")] == list(range(1, 21))
    finally:
        await a.close()
        await b.close()


async def test_followers_wake_on_appends_of_another_orchestrator(postgres_url: str) -> None:
    """LISTEN/NOTIFY: a wait in one process ends when another process appends, long
    before its timeout."""
    a, b = await PgEventStore.open(postgres_url), await PgEventStore.open(postgres_url)
    try:
        waiting = asyncio.create_task(a.wait_for(0, timeout=30))
        await asyncio.sleep(0)
        started = asyncio.get_running_loop().time()
        await b.append(run_stream("x"), 0, [make("x", "p")(1)])
        assert await asyncio.wait_for(waiting, timeout=10) is True
        assert asyncio.get_running_loop().time() - started < 5
        assert await a.last_seq() == 1
    finally:
        await a.close()
        await b.close()


async def test_log_followers_wake_on_output_stored_by_another_orchestrator(
    postgres_url: str,
) -> None:
    a, b = await PgLogStore.open(postgres_url), await PgLogStore.open(postgres_url)
    try:
        waiting = asyncio.create_task(a.wait_for("r", "j", 1, 0, timeout=30))
        await asyncio.sleep(0.05)
        chunk = LogChunk("r", "j", 1, 1, "stdout", b"hello\n", datetime.now(UTC))
        assert await b.append_many([chunk]) == 1
        assert await asyncio.wait_for(waiting, timeout=10) is True
        assert [c.data for c in await a.read("r", "j", 1)] == [b"hello\n"]
        assert await b.append_many([chunk]) == 0  # idempotent across processes too
    finally:
        await a.close()
        await b.close()


async def _waiting_on_a_lock(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> bool:
    cur = await conn.execute(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    row = await cur.fetchone()
    return row is not None and int(str(row[0])) > 0


async def test_an_append_that_commits_late_is_never_skipped_by_a_follower(
    postgres_url: str,
) -> None:
    """Commit order is seq order: while one orchestrator's append transaction is open
    (its seq taken, not yet committed), another's append waits rather than committing
    a later seq first, so a follower that reads in between never moves past the
    late one and skips it when it lands."""
    a, b = await PgEventStore.open(postgres_url), await PgEventStore.open(postgres_url)
    watch = await psycopg.AsyncConnection.connect(postgres_url, autocommit=True)
    held = await psycopg.AsyncConnection.connect(postgres_url)
    seen: list[int] = []

    async def follow() -> None:
        since = seen[-1] if seen else 0
        seen.extend(r.seq for r in await a.read_all(since_seq=since))

    try:
        at = format_time(datetime.now(UTC))
        async with held.transaction():
            outcomes, last = await write_group(held, [Append("held", 0, [JobQueued("j")], at)])
            assert last == 1 and not isinstance(outcomes[0], Exception)
            other = asyncio.create_task(b.append("other", 0, [JobQueued("k")]))
            async with asyncio.timeout(30):
                # PostgreSQL tells no one that a backend waits: its view is polled
                while not other.done() and not await _waiting_on_a_lock(watch):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            await follow()  # the other append must not be visible ahead of the held one
            assert seen == [], f"seq {seen} committed while seq 1 was still open"
        assert [r.seq for r in await asyncio.wait_for(other, 30)] == [2]
        await follow()
        assert seen == [1, 2]
        assert [r.stream for r in await a.read_all()] == ["held", "other"]
        assert (await a.check_chain()).problem == ""
    finally:
        await held.close()
        await watch.close()
        await a.close()
        await b.close()
