"""The hash chain (``chain.py``) over the SQLite ``events`` table: sealing and checking."""

from __future__ import annotations

import sqlite3

from xxci.orchestrator.store._sqlite import Database
from xxci.orchestrator.store.chain import (
    GENESIS,
    Anchor,
    ChainReport,
    ChainRow,
    diagnose,
    seal,
)

__all__ = ["CHAIN_ADDED_AT", "CHAIN_SEALED_UP_TO", "check_chain", "get_meta", "seal_existing"]

CHAIN_ADDED_AT = "chain_added_at"
CHAIN_SEALED_UP_TO = "chain_sealed_up_to"

_PAGE = 10_000
_ROW_COLUMNS = "seq, stream, version, type, data, at, hash"


def get_meta(conn: sqlite3.Connection, name: str) -> str | None:
    row = conn.execute("SELECT value FROM log_meta WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def seal_existing(conn: sqlite3.Connection, now: str) -> int:
    """Start the chain: give every event already in the log its hash, in seq order, and
    record when and up to which event (0 for a new log). Returns that event's seq."""
    prev, last = GENESIS, 0
    while True:
        rows = [
            ChainRow(*row)
            for row in conn.execute(
                f"SELECT {_ROW_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (last, _PAGE),
            )
        ]
        if not rows:
            break
        hashes = seal(rows, prev)
        conn.executemany(
            "UPDATE events SET hash = ? WHERE seq = ?",
            [(h, row.seq) for h, row in zip(hashes, rows, strict=True)],
        )
        prev, last = hashes[-1], rows[-1].seq
    conn.executemany(
        "INSERT OR REPLACE INTO log_meta (name, value) VALUES (?, ?)",
        [(CHAIN_ADDED_AT, now), (CHAIN_SEALED_UP_TO, str(last))],
    )
    return last


async def check_chain(db: Database, anchor: Anchor | None) -> ChainReport:
    """Walk the whole chain (in pages, memory stays flat) and say where it breaks first,
    and whether ``anchor`` holds."""
    meta = {str(n): str(v) for n, v in await db.read("SELECT name, value FROM log_meta")}
    sealed_up_to, sealed_at = int(meta.get(CHAIN_SEALED_UP_TO, 0)), meta.get(CHAIN_ADDED_AT, "")
    before: list[ChainRow] = []
    checked, last, problem = 0, 0, ""
    anchored: ChainRow | None = None
    while not problem:
        page = await _rows_after(db, last, _PAGE)
        if not page:
            break
        for index, row in enumerate(page):
            prev_hash = before[-1].hash or "" if before else GENESIS
            if row.hash is None or not row.follows(prev_hash):
                following = page[index + 1] if index + 1 < len(page) else None
                if following is None:
                    more = await _rows_after(db, row.seq, 1)
                    following = more[0] if more else None
                known = {str(h): int(s) for h, s in await db.read(_KNOWN) if h is not None}
                problem = diagnose(before[-2:], row, following, known)
                break
            checked += 1
            last = row.seq
            before = [*before[-1:], row]
            if anchor is not None and row.seq == anchor.seq:
                anchored = row
    head = Anchor(before[-1].seq, before[-1].hash or "") if before and not problem else None
    return ChainReport(
        events=checked,
        head=head,
        sealed_up_to=sealed_up_to,
        sealed_at=sealed_at,
        problem=problem,
        anchor_problem=_anchor_problem(anchor, anchored, problem),
    )


_KNOWN = "SELECT hash, seq FROM events"


async def _rows_after(db: Database, seq: int, limit: int) -> list[ChainRow]:
    rows = await db.read(
        f"SELECT {_ROW_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
    )
    return [ChainRow(*row) for row in rows]


def _anchor_problem(anchor: Anchor | None, row: ChainRow | None, problem: str) -> str:
    if anchor is None:
        return ""
    if problem and row is None:
        return f"anchor {anchor}: not checked, the chain breaks before event {anchor.seq}"
    if row is None:
        return (
            f"anchor {anchor}: the log has no event {anchor.seq} now:"
            " it was cut short or rewritten since the anchor was taken"
        )
    if row.hash != anchor.hash:
        return (
            f"anchor {anchor}: event {anchor.seq} now has hash {row.hash}:"
            " the log up to it was rewritten since the anchor was taken"
        )
    return ""
