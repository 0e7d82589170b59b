"""A job's output limit, applied on the worker where the output is produced.

Like GitLab Runner's ``output_limit``: once an attempt's output (stdout, stderr and
xxci's own lines together) reaches the limit, what follows is not kept, one line says
where the log was cut, and the job goes on to its end. xxci's own lines (each
command as it starts, the artifacts' notes) still pass for a little while after the
cut, so the log keeps its shape; a job cannot make them many.
"""

from __future__ import annotations

from xxci.common.spec.limits import describe_size

__all__ = ["DEFAULT_OUTPUT_LIMIT", "SYSTEM_ALLOWANCE", "OutputLimit"]

DEFAULT_OUTPUT_LIMIT = 16 * 1024 * 1024
"""GitLab Runner's default, for an orchestrator that names none."""
SYSTEM_ALLOWANCE = 64 * 1024
"""Bytes of xxci's own lines still kept after the cut."""


class OutputLimit:
    """Counts one attempt's output; :meth:`take` says what of each piece is kept."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit or DEFAULT_OUTPUT_LIMIT
        self.kept = 0
        self.cut = False
        """The output reached the limit: the log was cut."""
        self._system_left = SYSTEM_ALLOWANCE

    def take(self, stream: str, data: bytes) -> tuple[bytes, bytes]:
        """What of ``data`` (on ``stream``) to keep, and the line announcing the cut
        (``b""`` but the once it happens)."""
        if self.cut:
            if stream == "system" and len(data) <= self._system_left:
                self._system_left -= len(data)
                return data, b""
            return b"", b""
        room = self.limit - self.kept
        if len(data) <= room:
            self.kept += len(data)
            return data, b""
        self.cut = True
        self.kept = self.limit
        kept = data[:room]
        notice = (
            f"output cut at the limit of {describe_size(self.limit)}: "
            "the job goes on, the rest of its output is not kept"
        )
        return kept, ("\n" if kept and not kept.endswith(b"\n") else "").encode() + (
            notice.encode() + b"\n"
        )
