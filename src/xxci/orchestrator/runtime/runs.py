"""The run book: appends to run streams and keeps each run's state as a fold of them.

Every change to a run goes through :meth:`RunBook.record`: append to the log (one
transaction, optimistic on the stream version), apply to the cached state, then let
the pure scheduler decide what follows and append that too, until it has nothing to
add. The cached states are only a copy of the fold of the log: :meth:`RunBook.load`
rebuilds them by replay, and a stale cache shows up as a ConflictError on the next
append, which re-reads the stream and retries.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Callable, Sequence

from xxci.common.clock import SYSTEM_CLOCK, Clock
from xxci.common.errors import ConflictError, UsageError, XxciError
from xxci.common.events import Event, RecordedEvent, RunCreated, RunReopened, run_stream
from xxci.common.spec.model import Pipeline
from xxci.orchestrator.domain.fold import apply, replay
from xxci.orchestrator.domain.scheduler import decide
from xxci.orchestrator.domain.settings import Settings
from xxci.orchestrator.domain.state import RunState
from xxci.orchestrator.store import EventStorage
from xxci.orchestrator.store.conflicts import retry_on_conflict
from xxci.orchestrator.store.run_index import pipeline_name
from xxci.orchestrator.views.load import load_run

log = logging.getLogger("xxci.orchestrator")

_RUN_ID = re.compile(r"[0-9a-f]{12}")


def check_run_id(run_id: str) -> None:
    """UsageError unless ``run_id`` looks like the ids orchestrators choose (12
    lowercase hex digits), which is what a client choosing one must send."""
    if not _RUN_ID.fullmatch(run_id):
        raise UsageError(f"run id {run_id!r}: expected 12 lowercase hex digits")


def _same_submission(state: RunState, wanted: RunCreated) -> RunState:
    """``state`` if it is the run ``wanted`` would have made (a submission sent
    again: same pipeline, repository, branch, commit and source); XxciError if
    another run has that id."""
    made = (state.pipeline.name, state.repo, state.branch, state.commit, state.source_blob)
    asked = (pipeline_name(wanted), wanted.repo, wanted.branch, wanted.commit)
    if made != (*asked, wanted.source_blob):
        raise XxciError(f"run id {wanted.run_id!r} is taken by another run")
    return state


Listener = Callable[[RunState, Sequence[RecordedEvent]], None]


class RunBook:
    """Owns the run streams of one event store. Events are stamped with ``clock.now()``
    and the scheduler decides with ``settings`` at that time."""

    def __init__(
        self, store: EventStorage, settings: Settings, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._states: dict[str, RunState] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(state, new_records)`` after every change to a run."""
        self._listeners.append(listener)

    async def load(self) -> list[RunState]:
        """Replay every unfinished run from the log (used at start-up; reads only the
        live runs, so it costs the same however long the history is)."""
        for row in await self._store.live_runs():
            if row.run_id in self._states:
                continue
            state = await load_run(self._store, row.run_id)
            if not state.status.finished:
                self._states[row.run_id] = state
        return list(self._states.values())

    def active(self) -> list[RunState]:
        return [s for s in self._states.values() if not s.status.finished]

    async def get(self, run_id: str) -> RunState:
        state = self._states.get(run_id)
        if state is not None:
            return state
        return await load_run(self._store, run_id)

    async def current(self, run_id: str) -> RunState:
        """The run as the log has it now: the cached state brought up to date with
        whatever was appended since (on a shared store, another orchestrator may have
        appended a moment ago and this book not have heard yet)."""
        async with self._lock(run_id):
            state = self._states.get(run_id)
            if state is None:
                return await load_run(self._store, run_id)
            newer = await self._store.read_stream(run_stream(run_id), after_version=state.version)
            if newer:
                for rec in newer:
                    state = apply(state, rec)
                if state.status.finished:
                    self._states.pop(run_id, None)
                else:
                    self._states[run_id] = state
                self._notify(state, newer)
            return state

    async def create(
        self,
        pipeline: Pipeline,
        *,
        repo: str,
        branch: str,
        commit: str,
        source_blob: str,
        local: bool = False,
        run_id: str = "",
    ) -> RunState:
        """Append ``RunCreated`` with the next run number of the pipeline, then advance.

        ``run_id``: the id a client chose (:func:`check_run_id`), so that sending the
        same submission again starts one run: when that run exists already, created
        from the same pipeline, source and commit, it is returned as it is; a different
        run of that id is an XxciError.
        """
        chosen = bool(run_id)
        if chosen:
            check_run_id(run_id)
        else:
            run_id = uuid.uuid4().hex[:12]

        def make(number: int) -> RunCreated:
            return RunCreated(
                run_id=run_id,
                pipeline=pipeline.to_dict(),
                number=number,
                repo=repo,
                branch=branch,
                commit=commit,
                source_blob=source_blob,
                local=local,
            )

        async with self._lock(run_id):  # a follower must not see it before it is cached
            try:
                records = await self._store.append_run_created(run_id, make, at=self._clock.now())
            except ConflictError:
                if not chosen:
                    raise
                return _same_submission(await load_run(self._store, run_id), make(0))
            state = replay(records)
            self._states[run_id] = state
            self._notify(state, records)
        return await self.advance(run_id)

    async def record(self, run_id: str, events: Sequence[Event]) -> RunState:
        """Append ``events`` to the run, then advance it. Returns the new state."""
        return await self.record_if(run_id, lambda _state: events)

    async def record_if(self, run_id: str, make: Callable[[RunState], Sequence[Event]]) -> RunState:
        """Append what ``make`` builds from the current state, atomically with respect to
        other changes to this run (``make`` sees the state the events will follow)."""

        async def attempt(again: bool) -> None:
            state = await (self._reload(run_id) if again else self.get(run_id))
            events = make(state)
            if events:
                await self._append(run_id, events)

        async with self._lock(run_id):
            await retry_on_conflict(attempt, f"run {run_id}")
        return await self.advance(run_id)

    async def advance(self, run_id: str) -> RunState:
        """Append what the scheduler decides until it decides nothing more."""
        async with self._lock(run_id):
            state = await self.get(run_id)
            for _ in range(1000):
                decided = decide(state, self._clock.now(), self._settings)
                if not decided:
                    break
                try:
                    state = await self._append(run_id, decided)
                except ConflictError:
                    # The log moved on (a change this process recorded meanwhile): the
                    # decision was made on a stale fold. Re-read the log and decide again.
                    log.info("run %s changed elsewhere; re-reading the log", run_id)
                    state = await self._reload(run_id)
            if state.status.finished:
                self._states.pop(run_id, None)
            return state

    async def observe(self, records: Sequence[RecordedEvent]) -> None:
        """Records read from the log (in seq order), some appended by other
        orchestrators on a shared store: bring the cached runs up to date with those
        and tell the listeners, as for this book's own appends. Records it has already
        applied are skipped; a new run is cached from its ``RunCreated``, a finished one
        opened again from its whole stream."""
        by_run: dict[str, list[RecordedEvent]] = {}
        for rec in records:
            if rec.stream.startswith("run:"):
                by_run.setdefault(rec.stream.removeprefix("run:"), []).append(rec)
        for run_id, recs in by_run.items():
            async with self._lock(run_id):
                state = self._states.get(run_id)
                fresh = [r for r in recs if state is None or r.version > state.version]
                if not fresh:
                    continue  # applied already
                if state is None and fresh[0].version != 1:
                    if not any(isinstance(r.event, RunReopened) for r in fresh):
                        continue  # a run that finished before we looked
                    state = await load_run(self._store, run_id)  # finished, then played
                elif state is None:
                    state = replay(fresh)
                elif fresh[0].version == state.version + 1:
                    for rec in fresh:
                        state = apply(state, rec)
                else:  # a gap: read the whole stream again
                    state = await load_run(self._store, run_id)
                if state.status.finished:
                    self._states.pop(run_id, None)
                else:
                    self._states[run_id] = state
                self._notify(state, fresh)

    async def tick(self, owns: Callable[[str], bool] = lambda _run_id: True) -> None:
        """Let time-based decisions (timeouts, cancel back-stops) happen, for the runs
        this orchestrator ``owns`` (all of them, unless several serve the store). The
        cached states are current (this book's appends, and :meth:`observe` for the
        others'); a stale one costs a conflict and a re-read."""
        for state in self.active():
            if not owns(state.run_id):
                continue
            try:
                await self.advance(state.run_id)
            except Exception:
                log.exception("advancing run %s failed", state.run_id)

    def _lock(self, run_id: str) -> asyncio.Lock:
        lock = self._locks.get(run_id)
        if lock is None:
            lock = self._locks[run_id] = asyncio.Lock()
        return lock

    async def _reload(self, run_id: str) -> RunState:
        state = await load_run(self._store, run_id)
        self._states[run_id] = state
        return state

    async def _append(self, run_id: str, events: Sequence[Event]) -> RunState:
        """One transaction at the cached version; ConflictError if the log moved on."""
        state = await self.get(run_id)
        records = await self._store.append(
            run_stream(run_id), state.version, events, at=self._clock.now()
        )
        for rec in records:
            state = apply(state, rec)
        if state.status.finished:
            self._states.pop(run_id, None)
        else:
            self._states[run_id] = state
        self._notify(state, records)
        return state

    def _notify(self, state: RunState, records: Sequence[RecordedEvent]) -> None:
        for listener in self._listeners:
            try:
                listener(state, records)
            except Exception:
                log.exception("run listener failed")
