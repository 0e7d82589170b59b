"""Walking the hash chain (``chain.py``) of any backend: the checker behind
``check_chain``, given three reads of the stored log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from xxci.orchestrator.store.chain import GENESIS, Anchor, ChainReport, ChainRow, diagnose

__all__ = ["PAGE", "ChainReads", "walk_chain"]

PAGE = 10_000


class ChainReads:
    """What the walker reads: rows after a seq (in seq order, at most ``limit``), every
    stored hash with its seq (only when a break is found), and the chain's metadata
    (when it was added, up to which event it sealed what was found)."""

    def __init__(
        self,
        rows_after: Callable[[int, int], Awaitable[list[ChainRow]]],
        known: Callable[[], Awaitable[dict[str, int]]],
        sealed: Callable[[], Awaitable[tuple[int, str]]],
    ) -> None:
        self.rows_after = rows_after
        self.known = known
        self.sealed = sealed


async def walk_chain(reads: ChainReads, anchor: Anchor | None) -> ChainReport:
    """Walk the whole chain (in pages, memory stays flat) and say where it breaks first,
    and whether ``anchor`` holds."""
    sealed_up_to, sealed_at = await reads.sealed()
    before: list[ChainRow] = []
    checked, last, problem = 0, 0, ""
    anchored: ChainRow | None = None
    while not problem:
        page = await reads.rows_after(last, PAGE)
        if not page:
            break
        for index, row in enumerate(page):
            prev_hash = before[-1].hash or "" if before else GENESIS
            if row.hash is None or not row.follows(prev_hash):
                following = page[index + 1] if index + 1 < len(page) else None
                if following is None:
                    more = await reads.rows_after(row.seq, 1)
                    following = more[0] if more else None
                problem = diagnose(before[-2:], row, following, await reads.known())
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
