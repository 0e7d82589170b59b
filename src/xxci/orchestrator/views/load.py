"""A run rebuilt from its stream: the one place the log is replayed into a RunState."""

from __future__ import annotations

from xxci.common.errors import NotFoundError
from xxci.common.events import run_stream
from xxci.orchestrator.domain.fold import replay
from xxci.orchestrator.domain.state import RunState
from xxci.orchestrator.store import EventStorage

__all__ = ["load_run"]


async def load_run(store: EventStorage, run_id: str, up_to_seq: int | None = None) -> RunState:
    """The run ``run_id`` as its stream replays, up to global event ``up_to_seq``
    (None: now). NotFoundError if the run has no event by then."""
    records = await store.read_stream(run_stream(run_id), up_to_seq=up_to_seq)
    if not records:
        when = f" at event {up_to_seq}" if up_to_seq is not None else ""
        raise NotFoundError(f"no run {run_id!r}{when}")
    return replay(records)
