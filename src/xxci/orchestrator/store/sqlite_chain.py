"""The hash chain (``chain.py``) over the SQLite ``events`` table: sealing and checking."""

from __future__ import annotations

import sqlite3

from xxci.orchestrator.store._sqlite import Database
from xxci.orchestrator.store.chain import GENESIS, Anchor, ChainReport, ChainRow, seal
from xxci.orchestrator.store.chain_walk import PAGE as _PAGE
from xxci.orchestrator.store.chain_walk import ChainReads, walk_chain

__all__ = ["CHAIN_ADDED_AT", "CHAIN_SEALED_UP_TO", "check_chain", "get_meta", "seal_existing"]

CHAIN_ADDED_AT = "chain_added_at"
CHAIN_SEALED_UP_TO = "chain_sealed_up_to"

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
    """Walk the whole chain and say where it breaks first, and whether ``anchor`` holds."""

    async def rows_after(seq: int, limit: int) -> list[ChainRow]:
        rows = await db.read(
            f"SELECT {_ROW_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        )
        return [ChainRow(*row) for row in rows]

    async def known() -> dict[str, int]:
        rows = await db.read("SELECT hash, seq FROM events")
        return {str(h): int(s) for h, s in rows if h is not None}

    async def sealed() -> tuple[int, str]:
        meta = {str(n): str(v) for n, v in await db.read("SELECT name, value FROM log_meta")}
        return int(meta.get(CHAIN_SEALED_UP_TO, 0)), meta.get(CHAIN_ADDED_AT, "")

    return await walk_chain(ChainReads(rows_after, known, sealed), anchor)
