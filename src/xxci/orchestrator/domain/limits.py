"""How much one run may put on the orchestrator and its workers: one value, set on the
server (``xxci server --max-...``), shown by ``xxci status``.

The pipeline file's own limits are :class:`~xxci.common.spec.limits.SpecLimits`. The
others are applied where the bytes are produced: a job's output is cut on its worker
once it passes ``output_bytes`` (the job keeps running; the log says where it was
cut), its artifacts are collected up to ``artifact_bytes``, and the blob service
refuses an upload past ``upload_bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xxci.common.spec.limits import DEFAULT_LIMITS, SpecLimits

__all__ = ["DEFAULT_ARTIFACT_BYTES", "DEFAULT_OUTPUT_BYTES", "DEFAULT_UPLOAD_BYTES", "Limits"]

DEFAULT_OUTPUT_BYTES = 16 * 1024**2
"""GitLab Runner's default ``output_limit``."""
DEFAULT_ARTIFACT_BYTES = 1024**3
DEFAULT_UPLOAD_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Limits:
    """Sizes in bytes; every one must be positive."""

    spec: SpecLimits = field(default_factory=lambda: DEFAULT_LIMITS)
    output_bytes: int = DEFAULT_OUTPUT_BYTES
    """A job attempt's output (stdout, stderr and xxci's own lines together)."""
    artifact_bytes: int = DEFAULT_ARTIFACT_BYTES
    """A job attempt's artifact archive."""
    upload_bytes: int = DEFAULT_UPLOAD_BYTES
    """One blob uploaded to the orchestrator (a source tree or an artifact archive)."""

    def __post_init__(self) -> None:
        """Raises ValueError, naming the limit, for one that is not positive."""
        for name in ("output_bytes", "artifact_bytes", "upload_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', ' ')} must be at least 1")
        spec = self.spec
        if spec.max_bytes < 1 or spec.max_depth < 1 or spec.max_jobs < 1 or spec.max_needs < 0:
            raise ValueError("pipeline file limits must be positive")

    def to_dict(self) -> dict[str, Any]:
        """The ``limits`` of the status document."""
        return {
            "pipeline_file_bytes": self.spec.max_bytes,
            "pipeline_depth": self.spec.max_depth,
            "pipeline_jobs": self.spec.max_jobs,
            "job_needs": self.spec.max_needs,
            "pipeline_cpu_seconds": self.spec.cpu_seconds,
            "output_bytes": self.output_bytes,
            "artifact_bytes": self.artifact_bytes,
            "upload_bytes": self.upload_bytes,
        }
