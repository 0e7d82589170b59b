"""What an attempt is given beside its script, as both sides of the worker stream hold
it: the services (:class:`~xxci.common.spec.services_cache.Service`), the caches
(:class:`~xxci.common.spec.services_cache.Cache`) and the secrets.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GivenSecret", "service_of_stream", "service_stream"]

_SERVICE_PREFIX = "service:"


@dataclass(frozen=True)
class GivenSecret:
    """A secret given to one attempt: store name ``name`` as variable ``variable``.

    ``missing``: the store has no such secret any more (the attempt must fail).
    ``repr`` never shows the value, so a log line that prints one leaks nothing.
    """

    name: str
    variable: str
    value: bytes = b""
    file: bool = False
    missing: bool = False

    def __repr__(self) -> str:
        return (
            f"GivenSecret(name={self.name!r}, variable={self.variable!r}, "
            f"file={self.file}, missing={self.missing})"
        )


def service_stream(service: str) -> str:
    """The log stream name a service's output is kept under, beside the job's."""
    return f"{_SERVICE_PREFIX}{service}"


def service_of_stream(stream: str) -> str:
    """The service a stream belongs to ("" for the job's own stdout/stderr/system)."""
    return stream[len(_SERVICE_PREFIX) :] if stream.startswith(_SERVICE_PREFIX) else ""
