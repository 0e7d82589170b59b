"""Which orchestrator drives which run, when several serve one store.

Rendezvous hashing: every orchestrator ranks the live ones by a hash of (orchestrator,
run) and the highest drives the run's time-based decisions and adopts its orphaned
attempts. All of them compute the same answer from the same member list without
talking to each other, and when one goes only its runs move. It is an optimisation,
not a safety rule: two orchestrators deciding for one run at once still cannot both
append (the stream's version arbitrates).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["run_owner"]


def run_owner(run_id: str, members: Sequence[str]) -> str:
    """The member that drives ``run_id``; ValueError if there are no members."""
    if not members:
        raise ValueError("no orchestrator to drive the run")
    return max(members, key=lambda m: hashlib.sha256(f"{m}\x1f{run_id}".encode()).digest())
