"""The pages' templates: Jinja2 with autoescaping on for every template.

Every value a template prints is HTML-escaped unless it is marked safe, and nothing
the log or a pipeline provides is ever marked safe: a job named
``<img src=x onerror=alert(1)>`` shows as that text. JSON for scripts goes through
``tojson``, which escapes ``<``, ``>`` and ``&`` too.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

import jinja2

__all__ = ["STATUS_ICONS", "make_templates", "seconds_text"]

STATUS_ICONS = {
    "PENDING": "○",
    "QUEUED": "◷",
    "RUNNING": "◐",
    "SUCCESS": "✓",
    "FAILED": "✗",
    "CANCELED": "⊘",
    "SKIPPED": "↷",
}
"""One symbol per status, so a status never rests on colour alone."""


def make_templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("xxci.orchestrator.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["seconds"] = seconds_text
    env.filters["short"] = lambda commit: (commit or "")[:8]
    env.filters["since"] = _since
    env.filters["utc"] = _utc_text
    env.filters["pathpart"] = lambda value: quote(str(value), safe="")
    # For reading (escaped as any text); ``tojson`` is for data that scripts parse.
    env.filters["pretty"] = lambda value: json.dumps(
        value, indent=2, sort_keys=True, ensure_ascii=False
    )
    env.globals["STATUS_ICONS"] = STATUS_ICONS
    return env


def seconds_text(value: float | None) -> str:
    """``950 ms``, ``42 s``, ``3 m 05 s``, ``2 h 04 m``; an empty string for None."""
    if value is None:
        return ""
    if value < 1:
        return f"{round(value * 1000)} ms"
    whole = int(value)
    if whole < 60:
        return f"{value:.0f} s" if whole >= 10 else f"{value:.1f} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} m {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} m"


def _since(start: str | None, now: datetime) -> float | None:
    """Seconds from an RFC 3339 time to ``now``."""
    if not start:
        return None
    return max(0.0, (now - datetime.fromisoformat(start)).total_seconds())


def _utc_text(value: Any) -> str:
    """``2024-05-01 12:00:03 UTC`` for an RFC 3339 time (the page shows it in the
    reader's own time zone once its script runs)."""
    if not value:
        return ""
    at = datetime.fromisoformat(str(value))
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")
