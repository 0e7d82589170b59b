"""How long the orchestrator waits for what: one value, passed to whoever decides.

The scheduler (:func:`~xxci.orchestrator.domain.scheduler.decide`), the worker hub and
the orchestrator's loop all take the same :class:`Settings`, so a setting given on the
command line (``xxci server --cancel-grace 90``) means the same thing everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    """Durations in seconds, and the cap on the job caches."""

    lease_ttl: float = 15.0
    """How long an attempt stays a worker's without a heartbeat from it (a silent
    worker: its stream open, nothing heard)."""
    heartbeat_interval: float = 3.0
    """How often workers are asked to heartbeat (told in Welcome)."""
    disconnect_grace: float = 5.0
    """How long the attempts of a worker whose stream closed stay its own: one that
    reconnects within it (a network blip, a restart of the orchestrator's proxy) keeps
    them; after it they are lost and queued again. Never longer than the lease."""
    cancel_grace: float = 10.0
    """SIGTERM to SIGKILL when a job is canceled (told in CancelJob)."""
    cancel_backstop: float = 60.0
    """How long past the cancel grace the scheduler waits for the worker to confirm
    before it ends the job CANCELED itself."""
    timeout_grace: float = 60.0
    """How long past a job's timeout the scheduler waits for the worker to report it
    before it fails the job with ``timeout`` itself."""
    max_lost_attempts: int = 3
    """Attempts a job may lose to vanished workers before it fails ``worker_lost``."""
    tick: float = 1.0
    """How often the orchestrator's loop looks at the time (leases, back-stops) when
    nothing else wakes it."""
    member_ttl: float = 10.0
    """On a shared store: how long an orchestrator may go without a heartbeat (it beats
    every tick) before the others count it gone and take over its workers' leases."""
    cache_max_bytes: int = 5 * 1024**3
    """The size the job caches may take together (the least recently used go)."""

    def __post_init__(self) -> None:
        """Raises ValueError, naming the setting, for a value that makes no sense."""
        rules = [
            (name, 0.0, False) for name in ("lease_ttl", "heartbeat_interval", "tick", "member_ttl")
        ]
        rules += [
            (name, 0.0, True)
            for name in ("cancel_grace", "cancel_backstop", "timeout_grace", "disconnect_grace")
        ]
        rules.append(("max_lost_attempts", 1, True))
        rules.append(("cache_max_bytes", 0, True))
        for name, least, inclusive in rules:
            value = getattr(self, name)
            if value < least or (value == least and not inclusive):
                wanted = f"at least {least:g}" if inclusive else f"more than {least:g}"
                raise ValueError(f"{name.replace('_', ' ')} must be {wanted}, not {value:g}")
