"""What a client asks of an orchestrator: one interface, plain values, two transports.

:class:`OrchestratorApi` is the whole of it: upload a source tree, submit a run,
watch it, read the event log and a job's output, cancel, play a manual job, and the
read models (reports, status, verify, where the log stands, artifact bytes). The
orchestrator implements it once
(:class:`xxci.orchestrator.application.OrchestratorService`); a client in the same
process calls that object directly, one in another process goes through gRPC
(:class:`xxci.cli.client.remote.GrpcClient`). The CLI and the web view
(:mod:`xxci.orchestrator.web`) ask through it alike, and both transports raise the
same errors:

    NotFoundError     a run, job, attempt or blob that does not exist
    UsageError        a request that makes no sense (a filter without the one it needs)
    SpecError         a pipeline that does not validate
    XxciError         anything else the orchestrator refused, in one line
    ConnectionFailed  (gRPC only) the orchestrator could not be reached

(over gRPC a UsageError or SpecError arrives as an XxciError with the same message).

Runs are named by id or as ``PIPELINE#N`` wherever a method takes ``run``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from xxci.common.errors import UsageError
from xxci.common.events import RecordedEvent
from xxci.common.spec.context import RunContext
from xxci.common.status import RunStatus

__all__ = [
    "RUN_STATUSES",
    "CacheInfo",
    "LogPiece",
    "OrchestratorApi",
    "Outcome",
    "RegisteredWorker",
    "ReportLevel",
    "ReportQuery",
    "SecretInfo",
    "Submission",
    "Submitted",
    "VerifyResult",
]

ReportLevel = Literal["runs", "pipeline", "run", "stage", "job"]

RUN_STATUSES = tuple(status.value for status in RunStatus)
"""What ``ReportQuery.status`` may name."""


@dataclass(frozen=True)
class Submission:
    """A run to start: the pipeline file's text (validated by the orchestrator, after
    ``overrides``), where it comes from, and the uploaded source tree's digest.

    ``context`` is what the rules are decided against; its ``branch``, ``commit`` and
    ``files`` are the orchestrator's to fill in (from ``branch``, ``commit`` and the
    source tree), so a client leaves them as they are.
    """

    file_name: str
    yaml_text: str
    overrides: Sequence[str] = ()
    repo: str = ""
    branch: str = ""
    commit: str = ""
    source_blob: str = ""
    context: RunContext | None = None
    run_id: str = ""
    """The new run's id, chosen by a client that may send the submission again (to
    another orchestrator, the first having gone down before answering): a run of that
    id made by the same submission is answered as is. Empty: the orchestrator
    chooses."""


@dataclass(frozen=True)
class Submitted:
    """The run a submission started."""

    run_id: str
    pipeline: str
    number: int


@dataclass(frozen=True)
class Outcome:
    """Whether a request that acts on a run (cancel, play) was taken, and the line that
    says what it did."""

    accepted: bool
    message: str


@dataclass(frozen=True)
class RegisteredWorker:
    """A worker identity, as ``xxci worker ls`` shows it. ``last_seen_at``: its last
    message (None: it never connected); ``revoked_at``: None while it is valid."""

    worker_id: str
    name: str
    registered_at: datetime
    last_seen_at: datetime | None
    connected: bool
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class LogPiece:
    """One chunk of a job attempt's output. ``stream``: stdout, stderr or system (the
    ``$ command`` lines the worker writes before each script command)."""

    attempt: int
    seq: int
    stream: str
    data: bytes


@dataclass(frozen=True)
class ReportQuery:
    """The filters of ``xxci report``; each one narrows the previous.

    ``run`` is a run number within ``pipeline``; ``branch`` and ``status`` (a run
    status, any case) keep the runs that have them; ``at_seq`` (0: now) asks for the
    report as it stood just after that global event (the status too); ``last`` keeps
    the newest runs, after leaving out the newest ``skip`` (pages of a listing).
    ``stages`` lists runs with their stages even when no pipeline is named (the
    ``pipeline`` level).
    """

    repo: str = ""
    pipeline: str = ""
    run: int = 0
    stage: str = ""
    job: str = ""
    at_seq: int = 0
    last: int = 0
    branch: str = ""
    status: str = ""
    skip: int = 0
    stages: bool = False

    def check(self) -> None:
        """Raise :class:`UsageError` naming the flag a filter needs."""
        if self.job and not self.stage:
            raise UsageError("--job needs --stage")
        if self.stage and not self.pipeline:
            raise UsageError("--stage needs --pipeline")
        if self.run and not self.pipeline:
            raise UsageError("--run needs --pipeline")
        numbers = (("--run", self.run), ("--at", self.at_seq), ("--last", self.last))
        for flag, value in (*numbers, ("--skip", self.skip)):
            if value < 0:
                raise UsageError(f"{flag} must be a positive number, not {value}")
        if self.status and self.status.upper() not in RUN_STATUSES:
            raise UsageError(
                f"--status must be one of {', '.join(RUN_STATUSES)}, not {self.status!r}"
            )

    @property
    def level(self) -> ReportLevel:
        if self.job:
            return "job"
        if self.stage:
            return "stage"
        if self.run:
            return "run"
        return "pipeline" if self.pipeline or self.stages else "runs"

    @property
    def narrowed(self) -> bool:
        """Whether a filter beyond the pipeline may leave out some of its runs."""
        return bool(self.branch or self.status or self.skip)


@dataclass
class VerifyResult:
    """How much ``verify`` checked, and every difference it found (one line each).

    ``chained``: events the hash chain vouches for, up to ``head`` (``SEQ:HASH``, "" if
    the chain is broken or the log empty); events up to ``sealed_up_to`` were in the
    log when the chain was added, at ``sealed_at``. ``anchor``: the anchor checked
    ("" if none); a failed one is among the problems.
    """

    runs: int = 0
    events: int = 0
    problems: list[str] = field(default_factory=list)
    chained: int = 0
    head: str = ""
    sealed_up_to: int = 0
    sealed_at: str = ""
    anchor: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> VerifyResult:
        return cls(
            runs=int(doc["runs"]),
            events=int(doc["events"]),
            problems=[str(p) for p in doc["problems"]],
            chained=int(doc.get("chained", 0)),
            head=str(doc.get("head", "")),
            sealed_up_to=int(doc.get("sealed_up_to", 0)),
            sealed_at=str(doc.get("sealed_at", "")),
            anchor=str(doc.get("anchor", "")),
        )


@dataclass(frozen=True)
class SecretInfo:
    """A secret of the store, never with its value. ``pipeline``: "" for every one."""

    name: str
    pipeline: str
    size: int
    updated_at: str
    """RFC 3339, UTC."""


@dataclass(frozen=True)
class CacheInfo:
    """A job cache entry: the archive of ``key`` for ``pipeline``."""

    pipeline: str
    key: str
    size: int
    saved_at: str
    used_at: str
    """RFC 3339, UTC: when saved, when last restored (or saved)."""


class OrchestratorApi(Protocol):
    """Everything the CLI (and the web view) asks of an orchestrator. The feeds are
    async generators: close one (``aclose``) to stop it early."""

    async def upload_source(self, path: Path) -> str:
        """Store the archive at ``path`` as a blob; its digest (``sha256:...``)."""
        ...

    async def submit(self, submission: Submission) -> Submitted:
        """Validate the pipeline and start a run of it."""
        ...

    def watch(self, run: str) -> AsyncGenerator[RecordedEvent, None]:
        """Every event of the run from its first, then each new one, until it finishes."""
        ...

    def events(
        self, run: str = "", since_seq: int = 0, follow: bool = False
    ) -> AsyncGenerator[RecordedEvent, None]:
        """Events after ``since_seq``, of one run or (``run=""``) the whole log; with
        ``follow``, then new ones as they come (until the run finishes, or forever)."""
        ...

    def logs(
        self, run: str, job: str, attempt: int = 0, follow: bool = False, service: str = ""
    ) -> AsyncGenerator[LogPiece, None]:
        """The output of ``job``'s ``attempt`` (0: the latest), in order; with ``follow``,
        then new output until the job ends (moving on to a retry when following the
        latest). With ``service``, the log of the job's service of that name instead."""
        ...

    async def cancel(self, run: str, job: str = "") -> Outcome:
        """Cancel the run, or one job of it."""
        ...

    async def play(self, run: str, job: str) -> Outcome:
        """Play a manual job that waits to be played."""
        ...

    async def report(self, query: ReportQuery) -> dict[str, Any]:
        """The report document ``query`` asks for."""
        ...

    async def run_report(self, run: str, at_seq: int = 0) -> dict[str, Any]:
        """One run's report document (as it stood after event ``at_seq``; 0: now)."""
        ...

    async def status(self) -> dict[str, Any]:
        """Runs in flight, why their jobs wait, and the connected workers."""
        ...

    async def verify(self, anchor: str = "") -> VerifyResult:
        """Check the hash chain (and that ``anchor``, ``SEQ:HASH``, still holds), replay
        the whole log and check everything derived from it. UsageError for an anchor
        that is not one."""
        ...

    async def pipelines(self) -> list[str]:
        """Names of the pipelines that have runs, sorted."""
        ...

    async def workers(self) -> list[RegisteredWorker]:
        """Every worker that registered (revoked ones too), oldest first."""
        ...

    async def revoke_worker(self, worker_id: str) -> Outcome:
        """Revoke a worker's credential: its stream is closed, its attempts run again
        elsewhere, it cannot connect until it registers anew. NotFoundError for an id
        that never registered; not accepted if it was revoked already."""
        ...

    async def last_seq(self) -> int:
        """The global position of the newest event of the log."""
        ...

    def blob(self, digest: str) -> AsyncGenerator[bytes, None]:
        """The bytes of a stored blob (an artifact archive), in chunks."""
        ...

    async def set_secret(self, name: str, value: bytes, pipeline: str = "") -> SecretInfo:
        """Set secret ``name`` (for ``pipeline`` only, or every one); UsageError for a
        name that is not one, or a value too short to mask or over 1 MiB."""
        ...

    async def secrets(self) -> list[SecretInfo]:
        """Every secret, sorted by name then pipeline; never a value."""
        ...

    async def remove_secret(self, name: str, pipeline: str = "") -> bool:
        """Remove a secret; False if there was none."""
        ...

    async def caches(self, pipeline: str = "") -> list[CacheInfo]:
        """The job caches (of one pipeline, or all), most recently used first."""
        ...

    async def remove_caches(self, pipeline: str = "", key: str = "") -> int:
        """Remove the caches of ``pipeline`` ("": every pipeline), only ``key`` if given;
        how many went."""
        ...
