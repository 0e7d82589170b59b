"""Who may hold the stream of which worker: the admission decision. Pure.

A connection is admitted as the worker whose credential it presents, and only as that
worker: the Hello may name no id or that same id. Everything else is refused, and the
refusal is an incident worth recording on the stream of the worker whose identity was
at stake (the one the connection claimed to be, or whose credential it tried):

============================  ==========================================  ===========
the connection presents       it is told                                  recorded on
============================  ==========================================  ===========
no worker credential          register first                              the id it claims
an unknown worker's           unknown worker: register again              (nobody)
a known worker's, bad secret  invalid credential                          that worker
a revoked worker's            revoked: register again                     that worker
worker A's, claiming B        A may not connect as B (permission denied)  B
============================  ==========================================  ===========

The worker's own stream, if it has one, is never touched by a refused connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from xxci.common.credentials import WorkerCredential, secret_matches
from xxci.common.events import ConnectionRefused

__all__ = ["Admitted", "IdentityRecord", "Refused", "admit"]

REGISTER_AGAIN = "register it again (xxci worker --register)"


@dataclass(frozen=True)
class IdentityRecord:
    """One registered worker. ``secret_hash`` is ``sha256:<hex>`` of its secret."""

    worker_id: str
    name: str
    secret_hash: str
    registered_at: datetime
    last_seen_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True)
class Admitted:
    worker_id: str


@dataclass(frozen=True)
class Refused:
    """``message`` is what the caller is told. ``other_worker``: it proved to be
    another worker (permission denied, not unauthenticated). ``incident`` is the event
    to record on ``incident.worker_id``'s stream, if any."""

    message: str
    other_worker: bool = False
    incident: ConnectionRefused | None = None


def admit(
    credential: WorkerCredential | None,
    claimed: str,
    *,
    holder: IdentityRecord | None,
    claimed_known: bool,
    name: str = "",
    peer: str = "",
) -> Admitted | Refused:
    """Whether a connection presenting ``credential`` (None: none, e.g. the shared
    token) whose Hello claims the id ``claimed`` ("" for none) is admitted.

    ``holder`` is the registered worker the credential names (None if unknown or no
    credential); ``claimed_known`` whether ``claimed`` is a registered worker's id.
    """

    def incident(worker_id: str, reason: str, presented: str) -> ConnectionRefused:
        return ConnectionRefused(worker_id, reason, presented, name=name, peer=peer)

    if credential is None:
        told = "a worker connects with its own credential, not the shared token: register it first"
        if not (claimed and claimed_known):
            return Refused(told)
        reason = "a connection without this worker's credential claimed its id"
        return Refused(told, incident=incident(claimed, reason, "no credential"))
    worker_id = credential.worker_id
    if holder is None:
        return Refused(f"unknown worker {worker_id}: {REGISTER_AGAIN}")
    if not secret_matches(credential.secret, holder.secret_hash):
        reason = "a connection presented a wrong secret for this worker"
        return Refused(
            f"invalid credential for worker {worker_id}",
            incident=incident(worker_id, reason, "wrong secret"),
        )
    if holder.revoked:
        reason = "a connection with this worker's revoked credential was refused"
        return Refused(
            f"worker {worker_id} was revoked: {REGISTER_AGAIN}",
            incident=incident(worker_id, reason, "revoked credential"),
        )
    if claimed and claimed != worker_id:
        told = f"worker {worker_id} may not connect as worker {claimed}"
        if not claimed_known:
            return Refused(told, other_worker=True)
        reason = f"worker {worker_id} claimed this worker's id"
        return Refused(
            told, other_worker=True, incident=incident(claimed, reason, f"worker:{worker_id}")
        )
    return Admitted(worker_id)
