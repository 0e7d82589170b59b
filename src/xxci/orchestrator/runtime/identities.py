"""Worker identities at run time: registering, admitting, vouching for, revoking.

Every question goes to the identity store (:class:`~xxci.orchestrator.store.IdentityStorage`),
never to a copy in memory, so a revocation holds from the moment it is stored. Each
change is also recorded on the worker's stream (``WorkerRegistered``,
``WorkerRevoked``), and so is every refused connection that claimed a registered
worker's identity (``ConnectionRefused``), within a budget per worker
(:class:`~xxci.orchestrator.domain.incidents.IncidentBudget`): see
:mod:`xxci.orchestrator.domain.identity` for who is admitted as whom.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime

from xxci.common.clock import SYSTEM_CLOCK, Clock
from xxci.common.credentials import WorkerCredential, hash_secret
from xxci.common.errors import ConflictError, NotFoundError, UsageError
from xxci.common.events import ConnectionRefused, Event, WorkerRegistered, WorkerRevoked
from xxci.orchestrator.domain.identity import Admitted, IdentityRecord, Refused, admit
from xxci.orchestrator.domain.incidents import IncidentBudget
from xxci.orchestrator.store import IdentityStorage

__all__ = ["MAX_NAME", "Identities", "Revocation"]

log = logging.getLogger("xxci.orchestrator")

MAX_NAME = 128

Recorder = Callable[[str, Event], Awaitable[None]]
"""Appends an event to the stream of the worker it names (``Hub.record_worker_event``)."""


@dataclass(frozen=True)
class Revocation:
    """The outcome of a revocation: the worker as it stands after, and whether this
    call revoked it (False: it was revoked before)."""

    record: IdentityRecord
    now: bool


class Identities:
    def __init__(
        self,
        store: IdentityStorage,
        record: Recorder,
        clock: Clock = SYSTEM_CLOCK,
        budget: IncidentBudget | None = None,
    ) -> None:
        self._store = store
        self._record = record
        self._clock = clock
        self._budget = budget or IncidentBudget()

    async def register(self, name: str, peer: str = "") -> WorkerCredential:
        """A new identity named ``name``, and its credential (the only copy of the
        secret: the store keeps its hash). UsageError for a name that is no name."""
        if not name or len(name) > MAX_NAME or not name.isprintable():
            raise UsageError(f"a worker name is 1 to {MAX_NAME} printable characters")
        for _ in range(3):  # 48 random bits: a clash is all but impossible
            credential = WorkerCredential.issue(uuid.uuid4().hex[:12])
            record = IdentityRecord(
                credential.worker_id, name, hash_secret(credential.secret), self._clock.now()
            )
            try:
                await self._store.add(record)
            except ConflictError:
                continue
            await self._record(credential.worker_id, WorkerRegistered(record.worker_id, name, peer))
            log.info("worker %s registered as %s (from %s)", name, record.worker_id, peer)
            return credential
        raise ConflictError("could not pick a free worker id; try again")

    async def admit(
        self, presented: str | None, claimed: str, *, name: str = "", peer: str = ""
    ) -> Admitted | Refused:
        """Admit a connection presenting the bearer ``presented`` whose Hello claims
        ``claimed``; a refusal that concerns a registered worker is recorded on its
        stream."""
        credential = WorkerCredential.parse(presented) if presented else None
        holder = await self._store.get(credential.worker_id) if credential else None
        claimed_known = bool(claimed) and (
            (holder is not None and holder.worker_id == claimed)
            or await self._store.get(claimed) is not None
        )
        verdict = admit(
            credential, claimed, holder=holder, claimed_known=claimed_known, name=name, peer=peer
        )
        if isinstance(verdict, Refused):
            log.warning("refused a worker connection from %s: %s", peer, verdict.message)
            if verdict.incident is not None:
                await self._record_incident(verdict.incident)
        return verdict

    async def _record_incident(self, incident: ConnectionRefused) -> None:
        left_out = self._budget.take(incident.worker_id, self._clock.monotonic())
        if left_out is None:
            log.warning(
                "not recording a refused connection for worker %s: over %d in %.0fs",
                incident.worker_id,
                self._budget.burst,
                self._budget.window,
            )
            return
        await self._record(incident.worker_id, replace(incident, left_out=left_out))

    async def vouch(self, presented: str) -> str | None:
        """The id of the worker whose valid, unrevoked credential ``presented`` is;
        None otherwise (for calls beside the stream: blobs)."""
        credential = WorkerCredential.parse(presented)
        if credential is None:
            return None
        holder = await self._store.get(credential.worker_id)
        verdict = admit(credential, "", holder=holder, claimed_known=False)
        return verdict.worker_id if isinstance(verdict, Admitted) else None

    async def seen(
        self, worker_id: str, name: str | None = None, *, at: datetime | None = None
    ) -> None:
        """The worker was heard from at ``at`` (default: now), calling itself ``name``."""
        await self._store.seen(worker_id, at or self._clock.now(), name)

    async def revoked(self, worker_id: str) -> bool:
        """Whether the worker is revoked (or unknown) now."""
        record = await self._store.get(worker_id)
        return record is None or record.revoked

    async def all(self) -> list[IdentityRecord]:
        return await self._store.all()

    async def revoke(self, worker_id: str) -> Revocation:
        """Revoke the worker's credential; NotFoundError if there is no such worker."""
        now = await self._store.revoke(worker_id, self._clock.now())
        record = await self._store.get(worker_id)
        if record is None:
            raise NotFoundError(f"no worker {worker_id!r} (xxci worker ls lists them)")
        if now:
            await self._record(worker_id, WorkerRevoked(worker_id))
            log.warning("worker %s (%s) revoked", worker_id, record.name)
        return Revocation(record, now)
