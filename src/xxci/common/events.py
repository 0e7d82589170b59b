"""Events: every state change in xxci, as an immutable fact.

An event is a frozen dataclass. Its JSON form is ``{"field": value, ...}`` stored next
to its type name; decoding is version tolerant: unknown fields are ignored and missing
ones take their defaults, so an old log replays on new code and the other way round.

Streams: ``run:<id>`` holds one run's events (``RunCreated`` first); ``worker:<id>``
holds a worker's identity (registered, revoked), its connections, the connections
refused that claimed to be it, and the messages of it that were rejected.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import orjson

__all__ = [
    "EVENT_TYPES",
    "CancelRequested",
    "ConnectionRefused",
    "Event",
    "JobAssigned",
    "JobAttemptLost",
    "JobAwaitingPlay",
    "JobDelayed",
    "JobFinished",
    "JobPlayed",
    "JobQueued",
    "JobStarted",
    "MessageRejected",
    "RecordedEvent",
    "RunCreated",
    "RunFinished",
    "RunReopened",
    "SecretsGiven",
    "StageFinished",
    "StageStarted",
    "StepFinished",
    "WorkerConnected",
    "WorkerDisconnected",
    "WorkerRegistered",
    "WorkerRevoked",
    "decode_event",
    "encode_event",
    "finished_after",
    "run_stream",
    "worker_stream",
]


def run_stream(run_id: str) -> str:
    return f"run:{run_id}"


def worker_stream(worker_id: str) -> str:
    return f"worker:{worker_id}"


@dataclass(frozen=True, slots=True)
class Event:
    """Base of all events. ``type`` is the stored name; never rename one."""

    type: ClassVar[str] = "Event"


EVENT_TYPES: dict[str, type[Event]] = {}


def _register(cls: type[Event]) -> type[Event]:
    cls.type = cls.__name__
    EVENT_TYPES[cls.__name__] = cls
    return cls


# --- run stream --------------------------------------------------------------------


@_register
@dataclass(frozen=True, slots=True)
class RunCreated(Event):
    """A run was submitted. ``pipeline`` is the resolved spec (``Pipeline.to_dict``)."""

    run_id: str
    pipeline: Mapping[str, Any]
    number: int
    repo: str = ""
    branch: str = ""
    commit: str = ""
    source_blob: str = ""
    local: bool = False


@_register
@dataclass(frozen=True, slots=True)
class StageStarted(Event):
    stage: str


@_register
@dataclass(frozen=True, slots=True)
class JobQueued(Event):
    """A job is ready to run (its stage started, its needs succeeded) as ``attempt``."""

    job: str
    attempt: int = 1


@_register
@dataclass(frozen=True, slots=True)
class JobAssigned(Event):
    """An attempt was offered to a worker; the lease must be renewed by heartbeats."""

    job: str
    attempt: int
    worker_id: str
    worker_name: str = ""
    lease_seconds: float = 30.0


@_register
@dataclass(frozen=True, slots=True)
class SecretsGiven(Event):
    """The attempt was given the secrets of these names (never their values)."""

    job: str
    attempt: int
    names: tuple[str, ...] = ()


@_register
@dataclass(frozen=True, slots=True)
class JobStarted(Event):
    """The attempt's container started.

    ``worker_at`` is when, by the worker's clock (ISO 8601; "" when it said none), and
    ``clock_offset`` how many seconds that clock was ahead of the orchestrator's, as
    measured on its connection: the fold turns the two into the orchestrator's time
    (:func:`~xxci.orchestrator.domain.worker_time.happened_at`). StepFinished and
    JobFinished carry the same two fields.
    """

    job: str
    attempt: int
    container: str = ""
    image_digest: str = ""
    worker_at: str = ""
    clock_offset: float = 0.0


@_register
@dataclass(frozen=True, slots=True)
class StepFinished(Event):
    """Script command ``index`` (0-based) ended with ``exit_code``."""

    job: str
    attempt: int
    index: int
    exit_code: int
    worker_at: str = ""
    clock_offset: float = 0.0


@_register
@dataclass(frozen=True, slots=True)
class JobFinished(Event):
    """The job ended. ``status`` is a JobStatus value, ``failure_reason`` a
    FailureReason value or ``""``; ``allowed`` marks a failure that allow_failure
    permits."""

    job: str
    attempt: int
    status: str
    exit_code: int | None = None
    failure_reason: str = ""
    allowed: bool = False
    message: str = ""
    artifacts_blob: str = ""
    worker_at: str = ""
    clock_offset: float = 0.0
    coverage: str = ""
    """The figure the job's ``coverage`` regex found in its log ("" for none)."""
    output_cut: bool = False
    """The attempt's output passed the output limit and its log was cut there."""
    artifacts_cut: bool = False
    """Its artifacts passed the artifact limit: the files after it were left out."""


@_register
@dataclass(frozen=True, slots=True)
class JobAwaitingPlay(Event):
    """A ``when: manual`` job could run now: it waits (MANUAL) until someone plays it."""

    job: str


@_register
@dataclass(frozen=True, slots=True)
class JobPlayed(Event):
    """Someone played a manual job (``xxci play``): it is queued as soon as it may."""

    job: str
    by: str = ""


@_register
@dataclass(frozen=True, slots=True)
class JobDelayed(Event):
    """A ``when: delayed`` job could run now: it is queued ``start_in_seconds`` later."""

    job: str
    start_in_seconds: int = 0


@_register
@dataclass(frozen=True, slots=True)
class JobAttemptLost(Event):
    """The worker running an attempt went away (lease expired, rejected, gone)."""

    job: str
    attempt: int
    reason: str = ""


@_register
@dataclass(frozen=True, slots=True)
class CancelRequested(Event):
    """Cancel the whole run (``job`` empty) or one job."""

    job: str = ""
    reason: str = ""


@_register
@dataclass(frozen=True, slots=True)
class StageFinished(Event):
    stage: str
    status: str


@_register
@dataclass(frozen=True, slots=True)
class RunFinished(Event):
    status: str


@_register
@dataclass(frozen=True, slots=True)
class RunReopened(Event):
    """A finished run is open again: someone played ``job``, a manual job it finished
    without (as GitLab lets one). It finishes again, with a new ``RunFinished``, once
    that job is done; it is followed at once by the ``JobPlayed``."""

    job: str


# --- worker stream ------------------------------------------------------------------


@_register
@dataclass(frozen=True, slots=True)
class WorkerConnected(Event):
    """A worker's stream opened. ``clock_offset``: how many seconds its clock was
    ahead of the orchestrator's (negative: behind), from its Hello (0 if unknown)."""

    worker_id: str
    name: str
    capacity: int
    labels: tuple[str, ...] = ()
    version: str = ""
    peer: str = ""
    clock_offset: float = 0.0


@_register
@dataclass(frozen=True, slots=True)
class WorkerDisconnected(Event):
    worker_id: str
    reason: str = ""


@_register
@dataclass(frozen=True, slots=True)
class WorkerRegistered(Event):
    """A worker registered with the shared token and was given its own credential
    (only a hash of its secret is kept, and not here)."""

    worker_id: str
    name: str
    peer: str = ""


@_register
@dataclass(frozen=True, slots=True)
class WorkerRevoked(Event):
    """An operator revoked the worker's credential: it may not connect again."""

    worker_id: str


@_register
@dataclass(frozen=True, slots=True)
class ConnectionRefused(Event):
    """A connection that claimed to be this worker was refused; the worker's own
    connection, if any, went on. ``presented`` says what the caller proved instead:
    ``worker:<id>`` (another worker's credential), ``no credential``, ``wrong
    secret`` or ``revoked credential``. ``left_out``: how many more were refused since
    the last one recorded, past the recording budget (refused, counted, not recorded)."""

    worker_id: str
    reason: str
    presented: str = ""
    name: str = ""
    peer: str = ""
    left_out: int = 0


@_register
@dataclass(frozen=True, slots=True)
class MessageRejected(Event):
    """A worker said something about an attempt that is not current; kept for audit."""

    worker_id: str
    run_id: str
    job: str
    attempt: int
    message: str
    reason: str


def finished_after(records: Iterable[RecordedEvent], finished: bool = False) -> bool:
    """Whether a run whose stream was read up to here (``finished`` before
    ``records``) has finished: a ``RunFinished`` not followed by a ``RunReopened``."""
    for rec in records:
        if isinstance(rec.event, RunFinished):
            finished = True
        elif isinstance(rec.event, RunReopened):
            finished = False
    return finished


# --- codec --------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def encode_event(event: Event) -> tuple[str, str]:
    """Return ``(type, json)`` for storage."""
    data = {f.name: _jsonable(getattr(event, f.name)) for f in dataclasses.fields(event)}
    return event.type, json.dumps(data, sort_keys=True, separators=(",", ":"))


def decode_event(type_name: str, data: str | bytes | Mapping[str, Any]) -> Event:
    """Rebuild an event from its stored form, tolerating added and removed fields."""
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        raise ValueError(f"unknown event type {type_name!r}")
    raw: Mapping[str, Any] = data if isinstance(data, Mapping) else orjson.loads(data)
    names, tuples = _fields_of(cls)
    if not tuples and raw.keys() <= names:  # the usual case: stored by this version
        return cls(**raw)
    kwargs = {name: raw[name] for name in names if name in raw}
    for name in tuples:
        if isinstance(kwargs.get(name), list):
            kwargs[name] = tuple(kwargs[name])
    return cls(**kwargs)


def _fields_of(cls: type[Event]) -> tuple[frozenset[str], tuple[str, ...]]:
    """The field names of ``cls``, and those holding tuples (worked out once per class:
    a replay decodes every event of the log)."""
    found = _FIELDS.get(cls)
    if found is None:
        fields = dataclasses.fields(cls)
        found = _FIELDS[cls] = (
            frozenset(f.name for f in fields),
            tuple(f.name for f in fields if "tuple" in str(f.type)),
        )
    return found


_FIELDS: dict[type[Event], tuple[frozenset[str], tuple[str, ...]]] = {}


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as stored: its global position, its stream and version, its time."""

    seq: int
    stream: str
    version: int
    at: datetime
    event: Event = field(compare=False)
