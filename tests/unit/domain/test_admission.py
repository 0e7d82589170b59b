"""Who is admitted as which worker, and which refusals are recorded where: pure."""

from __future__ import annotations

from datetime import UTC, datetime

from xxci.common.credentials import WorkerCredential, hash_secret
from xxci.common.events import ConnectionRefused
from xxci.orchestrator.domain.identity import Admitted, IdentityRecord, Refused, admit

T0 = datetime(2025, 3, 1, tzinfo=UTC)
MINE = WorkerCredential("w1", "s" * 43)


def record(credential: WorkerCredential = MINE, revoked: bool = False) -> IdentityRecord:
    return IdentityRecord(
        credential.worker_id,
        "box",
        hash_secret(credential.secret),
        T0,
        revoked_at=T0 if revoked else None,
    )


def test_a_worker_is_admitted_as_itself_with_or_without_naming_its_id() -> None:
    assert admit(MINE, "", holder=record(), claimed_known=False) == Admitted("w1")
    assert admit(MINE, "w1", holder=record(), claimed_known=True) == Admitted("w1")


def test_a_worker_claiming_another_s_id_is_denied_and_recorded_on_the_other() -> None:
    verdict = admit(MINE, "w2", holder=record(), claimed_known=True, name="x", peer="p")
    assert verdict == Refused(
        "worker w1 may not connect as worker w2",
        other_worker=True,
        incident=ConnectionRefused(
            "w2", "worker w1 claimed this worker's id", "worker:w1", "x", "p"
        ),
    )
    # An id nobody has: refused the same, with nobody to record it for.
    unknown = admit(MINE, "w9", holder=record(), claimed_known=False)
    assert unknown == Refused("worker w1 may not connect as worker w9", other_worker=True)


def test_no_credential_is_refused_and_recorded_on_the_worker_it_claims() -> None:
    told = "a worker connects with its own credential, not the shared token: register it first"
    verdict = admit(None, "w1", holder=None, claimed_known=True, name="x", peer="p")
    assert verdict == Refused(
        told,
        incident=ConnectionRefused(
            "w1",
            "a connection without this worker's credential claimed its id",
            "no credential",
            "x",
            "p",
        ),
    )
    assert admit(None, "", holder=None, claimed_known=False) == Refused(told)
    assert admit(None, "w9", holder=None, claimed_known=False) == Refused(told)


def test_a_wrong_secret_is_refused_before_anything_about_the_worker_is_told() -> None:
    guess = WorkerCredential("w1", "g" * 43)
    for holder in (record(), record(revoked=True)):
        verdict = admit(guess, "w1", holder=holder, claimed_known=True)
        assert isinstance(verdict, Refused) and not verdict.other_worker
        assert verdict.message == "invalid credential for worker w1"
        assert verdict.incident is not None
        assert (verdict.incident.worker_id, verdict.incident.presented) == ("w1", "wrong secret")


def test_a_revoked_or_unknown_worker_must_register_again() -> None:
    revoked = admit(MINE, "w1", holder=record(revoked=True), claimed_known=True)
    assert isinstance(revoked, Refused)
    assert revoked.message == "worker w1 was revoked: register it again (xxci worker --register)"
    assert revoked.incident is not None and revoked.incident.presented == "revoked credential"
    unknown = admit(MINE, "w1", holder=None, claimed_known=False)
    assert unknown == Refused("unknown worker w1: register it again (xxci worker --register)")
