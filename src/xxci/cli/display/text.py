"""Text for people, and JSON/YAML for scripts: the shared pieces of every view.

Text goes through rich: statuses are coloured on a terminal and plain when the output
is piped (rich's Console decides; NO_COLOR is honoured). Tables are aligned columns
built as one rich ``Text`` rather than a ``rich.table.Table``: a listing of 10,000
runs renders in about 0.15 s that way, against several seconds as a Table. Times are
shown in local time; the documents themselves keep RFC 3339 UTC.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime

from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.text import Span, Text
from ruamel.yaml import YAML

from xxci.common.printable import printable
from xxci.common.status import JobStatus
from xxci.orchestrator.views.report import dump_json

__all__ = [
    "FINISHED",
    "GUTTER",
    "STYLE",
    "dump_document",
    "fmt_seconds",
    "local_time",
    "make_console",
    "plain",
    "print_all",
    "safe",
    "short_commit",
    "status_text",
    "table",
    "yes_no",
]

STYLE = {
    "PENDING": "dim",
    "QUEUED": "yellow",
    "RUNNING": "cyan",
    "SUCCESS": "green",
    "FAILED": "red",
    "CANCELED": "magenta",
    "SKIPPED": "dim",
}

GUTTER = "  "

FINISHED = frozenset(s.value for s in JobStatus if s.finished)


def make_console() -> Console:
    """A console on stdout; when it is not a terminal, wide enough never to wrap."""
    console = Console(file=sys.stdout, highlight=False)
    if not console.is_terminal:
        console = Console(file=sys.stdout, highlight=False, width=100_000)
    return console


def safe(part: Text) -> Text:
    """``part`` with control characters escaped (a name holding ``\x1b[2J`` shows as
    written); its styles are dropped only in that case."""
    escaped = printable(part.plain, keep_newlines=True)
    return part if escaped == part.plain else Text(escaped, no_wrap=part.no_wrap)


def print_all(console: Console, parts: Iterable[RenderableType]) -> None:
    for part in parts:
        if isinstance(part, Text):
            part = safe(part)
        if isinstance(part, Text) and not console.is_terminal:
            # Piped: rich would write the plain text anyway, only slower (10k rows: 0.3 s).
            console.file.write(part.plain + "\n")
        else:
            console.print(part, soft_wrap=True)


# --- values -----------------------------------------------------------------------


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def local_time(stamp: str | None, since: str | None = None) -> str:
    """``2024-05-01 14:00:05`` in local time; only ``14:00:05`` when ``since`` (an
    earlier time of the same row) falls on the same local day."""
    if not stamp:
        return ""
    at = datetime.fromisoformat(stamp).astimezone()
    if since and datetime.fromisoformat(since).astimezone().date() == at.date():
        return at.strftime("%H:%M:%S")
    return at.strftime("%Y-%m-%d %H:%M:%S")


def status_text(status: str | None, allowed: bool = False) -> Text:
    """A status, coloured; a failure that allow_failure permits shows in yellow."""
    if not status:
        return Text("")
    return Text(status, style="yellow" if allowed else STYLE.get(status, ""))


def yes_no(value: object) -> str:
    return "yes" if value else "no"


def plain(value: object) -> str:
    return "" if value is None else str(value)


def short_commit(commit: str | None) -> str:
    return (commit or "")[:8]


def table(headers: Sequence[str], rows: Sequence[Sequence[str | Text]]) -> Text:
    """Aligned columns (two spaces apart), a bold header row, no trailing blanks.

    Built as one string with style spans: thousands of rows take milliseconds."""
    lines = [[_cell(Text(h, style="bold")) for h in headers]]
    lines += [[_cell(c) for c in row] for row in rows]
    widths = [max(line[i][1] for line in lines) for i in range(len(headers))]
    parts: list[str] = []
    spans: list[Span] = []
    offset = 0
    for n, line in enumerate(lines):
        if n:
            parts.append("\n")
            offset += 1
        last = max((i for i, (plain, _, _) in enumerate(line) if plain), default=0)
        for i, (plain, width, text) in enumerate(line[: last + 1]):
            if i:
                parts.append(GUTTER)
                offset += len(GUTTER)
            if text is not None:
                if text.style:
                    spans.append(Span(offset, offset + len(plain), text.style))
                spans += [span.move(offset) for span in text.spans]
            parts.append(plain)
            offset += len(plain)
            if i < last:
                parts.append(" " * (widths[i] - width))
                offset += widths[i] - width
    return Text("".join(parts), spans=spans, no_wrap=True, overflow="ignore")


def _cell(cell: str | Text) -> tuple[str, int, Text | None]:
    """(plain text, width in terminal cells, the styled Text or None)."""
    text = cell if isinstance(cell, Text) else None
    plain = cell.plain if isinstance(cell, Text) else printable(cell)
    return plain, len(plain) if plain.isascii() else cell_len(plain), text


def dump_document(doc: object, fmt: str) -> str:
    """``doc`` as ``json`` (the one serialization of report files) or ``yaml``."""
    if fmt == "json":
        return dump_json(doc)
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    buffer = io.StringIO()
    yaml.dump(doc, buffer)
    return buffer.getvalue()
