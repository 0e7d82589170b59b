"""The hash chain against a real SQLite file edited behind the store's back with sqlite3."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from xxci.common.events import JobQueued, StageStarted, run_stream
from xxci.orchestrator.store import Anchor, EventStore, parse_anchor
from xxci.orchestrator.store.chain import GENESIS, event_hash


async def write_log(db_path: Path, runs: int = 3) -> Anchor:
    """``runs`` streams of 3 events each, appended one stream after another (seq 1..9)."""
    async with await EventStore.open(db_path) as store:
        for r in range(runs):
            events = [StageStarted("build"), JobQueued("a"), JobQueued("b")]
            await store.append(run_stream(f"r{r}"), 0, events)
        report = await store.check_chain()
    assert report.problem == "" and report.head is not None
    return report.head


def edit(db_path: Path, *statements: str) -> None:
    with sqlite3.connect(db_path) as raw:
        for statement in statements:
            raw.execute(statement)


async def problem(db_path: Path, anchor: Anchor | None = None) -> tuple[str, str]:
    async with await EventStore.open(db_path) as store:
        report = await store.check_chain(anchor)
    return report.problem, report.anchor_problem


async def test_an_intact_log_verifies_and_its_head_is_the_last_event(db_path: Path) -> None:
    head = await write_log(db_path)
    with sqlite3.connect(db_path) as raw:
        rows = raw.execute("SELECT stream, version, type, data, at, hash FROM events").fetchall()
    prev = GENESIS
    for stream, version, type_name, data, at, stored in rows:  # the documented formula
        prev = event_hash(prev, stream, version, type_name, data, at)
        assert stored == prev
    assert head == Anchor(9, prev)
    async with await EventStore.open(db_path) as store:
        report = await store.check_chain(head)
    assert (report.events, report.problem, report.anchor_problem) == (9, "", "")
    assert (report.sealed_up_to, report.head) == (0, head)


async def test_an_edited_row_is_named(db_path: Path) -> None:
    await write_log(db_path)
    edit(db_path, """UPDATE events SET data = '{"job":"evil","attempt":1}' WHERE seq = 5""")

    assert (await problem(db_path))[0] == (
        "event 5 (run:r1 v2 JobQueued) was edited: its content no longer matches its hash"
    )


async def test_a_deleted_row_is_named(db_path: Path) -> None:
    await write_log(db_path)
    edit(db_path, "DELETE FROM events WHERE seq = 4")

    assert (await problem(db_path))[0] == (
        "event 4 was deleted (the chain breaks at event 5 (run:r1 v2 JobQueued))"
    )


async def test_an_inserted_row_is_named(db_path: Path) -> None:
    await write_log(db_path)
    edit(
        db_path,
        "UPDATE events SET seq = seq + 100 WHERE seq > 6",  # make room after event 6
        "UPDATE events SET seq = seq - 99 WHERE seq > 100",
        "INSERT INTO events (seq, stream, version, type, data, at, hash) VALUES"
        " (7, 'run:r9', 1, 'StageStarted', '{\"stage\":\"x\"}', '2025-01-01T00:00:00.000000+00:00',"
        f" '{'ab' * 32}')",
    )

    assert (await problem(db_path))[0] == (
        "event 7 (run:r9 v1 StageStarted) was inserted:"
        " the event after it was written right after event 6"
    )


async def test_reordered_rows_are_named(db_path: Path) -> None:
    await write_log(db_path)
    edit(
        db_path,  # swap the places of events 4 and 7
        "UPDATE events SET seq = 100 WHERE seq = 4",
        "UPDATE events SET seq = 4 WHERE seq = 7",
        "UPDATE events SET seq = 7 WHERE seq = 100",
    )

    assert (await problem(db_path))[0] == (
        "event 4 (run:r2 v1 StageStarted) is out of order:"
        " it was written after event 6, not after event 3"
    )


async def test_a_row_without_a_hash_is_named(db_path: Path) -> None:
    await write_log(db_path)
    edit(db_path, "UPDATE events SET hash = NULL WHERE seq = 2")

    assert (await problem(db_path))[0] == (
        "event 2 (run:r0 v2 JobQueued) has no hash: it was written by hand, or by an older xxci"
    )


async def test_an_anchor_catches_a_chain_rewritten_whole(db_path: Path) -> None:
    """Whoever can write the file can recompute every hash; the anchor kept elsewhere
    is what shows the rewrite."""
    anchor = await write_log(db_path)
    edit(db_path, """UPDATE events SET data = '{"job":"evil","attempt":1}' WHERE seq = 5""")
    with sqlite3.connect(db_path) as raw:  # reseal everything after the edit
        rows = raw.execute("SELECT seq, stream, version, type, data, at FROM events").fetchall()
        prev = GENESIS
        for seq, stream, version, type_name, data, at in rows:
            prev = event_hash(prev, stream, version, type_name, data, at)
            raw.execute("UPDATE events SET hash = ? WHERE seq = ?", (prev, seq))

    chain, held = await problem(db_path, anchor)
    assert chain == ""
    assert held == (
        f"anchor {anchor}: event 9 now has hash {prev}:"
        " the log up to it was rewritten since the anchor was taken"
    )
    _, cut = await problem(db_path, Anchor(12, anchor.hash))
    assert cut == (
        f"anchor 12:{anchor.hash}: the log has no event 12 now:"
        " it was cut short or rewritten since the anchor was taken"
    )


async def test_a_log_from_before_the_chain_is_sealed_on_open(db_path: Path) -> None:
    await write_log(db_path, runs=2)
    edit(db_path, "ALTER TABLE events DROP COLUMN hash", "DROP TABLE log_meta")

    async with await EventStore.open(db_path) as store:
        await store.append(run_stream("r0"), 3, [JobQueued("c")])
        report = await store.check_chain()

    assert (report.problem, report.events, report.sealed_up_to) == ("", 7, 6)
    assert report.sealed_at.endswith("+00:00")


async def test_appends_grouped_in_one_commit_chain_in_seq_order(db_path: Path) -> None:
    async with await EventStore.open(db_path) as store:
        await asyncio.gather(
            *(store.append(run_stream(f"g{i}"), 0, [StageStarted("s")] * 3) for i in range(30)),
            store.append(run_stream("g0"), 5, [JobQueued("stale")]),
            return_exceptions=True,
        )
        report = await store.check_chain()
    assert (report.problem, report.events) == ("", 90)


@pytest.mark.parametrize("text", ["", "12", "x:ab", f"12:{'AB' * 32}", f"-1:{'ab' * 32}"])
def test_a_malformed_anchor_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected SEQ:HASH"):
        parse_anchor(text)
    assert parse_anchor(f" 7:{'ab' * 32}\n") == Anchor(7, "ab" * 32)
