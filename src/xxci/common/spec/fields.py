"""Typed readers for the values of a pipeline file.

Each reader takes one ``key: value`` :class:`Entry` and the ``where`` of the message
("job 'build'", "'default'", ...), and returns the typed value, or ``None`` after
recording a diagnostic in the :class:`Collector`. Nothing here raises: validation goes
on so that every problem is reported in one pass.
"""

from __future__ import annotations

import datetime
import difflib
import posixpath
import re
from collections.abc import Callable, Collection
from typing import TypeVar

from xxci.common.errors import Diagnostic
from xxci.common.spec import messages
from xxci.common.spec.durations import format_duration, parse_duration
from xxci.common.spec.limits import DEFAULT_LIMITS, SpecLimits
from xxci.common.spec.model import AllowFailure, Artifacts, ArtifactWhen
from xxci.common.spec.tree import Entry, Loc, Map, Node, Scalar, Seq, describe, shorten

MAX_RETRY = 10
MAX_NESTING = 10
"""How deep GitLab lets a script nest lists (``!reference`` puts lists in lists)."""
MAX_DURATION = 30 * 86400
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ALLOW_FAILURE_SHAPE = "true, false or {exit_codes: [...]}"
T = TypeVar("T")


class Collector:
    """The diagnostics of one file, gathered while validating it."""

    def __init__(self, file: str, limits: SpecLimits = DEFAULT_LIMITS) -> None:
        self.file = file
        self.limits = limits
        """What the file (and what it includes) is read within."""
        self.diagnostics: list[Diagnostic] = []
        self.notes: list[Diagnostic] = []
        self._seen: set[Diagnostic] = set()
        self._silenced: set[tuple[str, int, int]] = set()

    def root_cause(self, loc: Loc, message: str) -> None:
        """Report ``message`` as the one error at ``loc``: what it breaks is not
        reported again there (a broken ``!reference`` is not also "a null script")."""
        self.error(loc, message)
        self._silenced.add((loc.file or self.file, loc.line, loc.column))

    def note(self, loc: Loc, message: str) -> None:
        """Something valid that xxci accepts but does not act on (shown by ``check``)."""
        note = Diagnostic(loc.file or self.file, loc.line, loc.column, "note: " + message)
        if note not in self.notes:
            self.notes.append(note)

    def error(self, loc: Loc, message: str) -> None:
        message = message.replace("\n", "\\n")  # one line per diagnostic, whatever the file
        if loc.overridden:
            message += messages.FROM_OVERRIDE
        diagnostic = Diagnostic(loc.file or self.file, loc.line, loc.column, message)
        if (diagnostic.file, loc.line, loc.column) in self._silenced:
            return
        if diagnostic not in self._seen:  # a template's error, met once per job using it
            self._seen.add(diagnostic)
            self.diagnostics.append(diagnostic)


Reader = Callable[[Collector, Entry, str], T | None]
"""The shape of every reader below."""


def check_keys(
    c: Collector,
    mapping: Map,
    where: str,
    known: Collection[str],
    *,
    job_only: Collection[str] = (),
    hidden_ok: bool = False,
) -> None:
    """Report every key of ``mapping`` not in ``known`` (with a near miss if any).

    ``job_only`` keys get a message of their own (used for ``default``); with
    ``hidden_ok`` a key starting with ``.`` is allowed, as GitLab allows hidden keys
    that hold YAML anchors.
    """
    for entry in mapping:
        key = entry.key
        if isinstance(key, str) and (key in known or (hidden_ok and key.startswith("."))):
            continue
        if isinstance(key, str) and key in job_only:
            c.error(entry.key_loc, messages.job_only_key(key))
        else:
            c.error(entry.key_loc, messages.unknown_key(shorten(entry.name), where, known))


def misspelled(mapping: Map, key: str, known: Collection[str]) -> bool:
    """Whether an unknown key of ``mapping`` is a near miss for ``key``: its "unknown
    key ... (did you mean 'key'?)" error already says what is wrong, so a "missing
    required key" error for ``key`` would only repeat it."""
    for entry in mapping:
        name = entry.key
        if isinstance(name, str) and name not in known:
            near = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
            if near and near[0] == key:
                return True
    return False


def wrong_type(c: Collector, entry: Entry, where: str, expected: str) -> None:
    c.error(entry.value.loc, _wrong_type(entry.name, entry.value, where, expected))


def wrong_type_message(key: str, node: Node, where: str, expected: str) -> str:
    """The "expected X for KEY, found Y" message (with the quoting hint)."""
    return _wrong_type(key, node, where, expected)


def _wrong_type(key: str, node: Node, where: str, expected: str) -> str:
    quote_hint = (
        expected.startswith("a string")
        and isinstance(node, Scalar)
        and isinstance(node.value, bool | int | float | datetime.date)
    )
    return messages.wrong_type(key, where, expected, describe(node), quote_hint=quote_hint)


def mapping(c: Collector, entry: Entry, where: str) -> Map | None:
    if isinstance(entry.value, Map):
        return entry.value
    wrong_type(c, entry, where, "a mapping")
    return None


def string(c: Collector, entry: Entry, where: str) -> str | None:
    """A non-empty string."""
    node = entry.value
    if not (isinstance(node, Scalar) and isinstance(node.value, str)):
        wrong_type(c, entry, where, "a string")
        return None
    if not node.value.strip():
        c.error(node.loc, messages.empty_value(entry.name, where))
        return None
    return node.value


def located_strings(
    c: Collector, entry: Entry, where: str, expected: str = "a list of strings"
) -> list[tuple[str, Loc]] | None:
    """A list of non-empty strings, each with its position."""
    node = entry.value
    if not isinstance(node, Seq):
        wrong_type(c, entry, where, expected)
        return None
    items: list[tuple[str, Loc]] = []
    ok = True
    for item in node.items:
        if not (isinstance(item, Scalar) and isinstance(item.value, str)):
            c.error(item.loc, _wrong_type(entry.name, item, where, "a string in the list"))
            ok = False
        elif not item.value.strip():
            c.error(item.loc, messages.empty_entry(entry.name, where))
            ok = False
        else:
            items.append((item.value, item.loc))
    return items if ok else None


def strings(c: Collector, entry: Entry, where: str) -> tuple[str, ...] | None:
    items = located_strings(c, entry, where)
    return None if items is None else tuple(text for text, _ in items)


def script(c: Collector, entry: Entry, where: str) -> tuple[str, ...] | None:
    """One command (a string) or a non-empty list of commands; lists nested in the
    list (what ``!reference`` puts there) are flattened, as GitLab does."""
    node = entry.value
    commands: tuple[str, ...] | None
    if isinstance(node, Scalar) and isinstance(node.value, str):
        commands = (node.value,) if node.value.strip() else ()
    elif isinstance(node, Seq):
        if node.nesting > MAX_NESTING:
            c.error(node.loc, messages.nested_too_deep(entry.name, where, MAX_NESTING))
            return None
        commands = strings(c, Entry(entry.key, entry.key_loc, flatten(node)), where)
    else:
        wrong_type(c, entry, where, "a string or a list of strings")
        return None
    if commands == ():
        c.error(node.loc, messages.empty_value(entry.name, where))
        return None
    return commands


def flatten(node: Seq) -> Seq:
    """The list with the items of nested lists in their place."""
    if not any(isinstance(item, Seq) for item in node.items):
        return node
    items: list[Node] = []
    for item in node.items:
        items.extend(flatten(item).items if isinstance(item, Seq) else (item,))
    return Seq(tuple(items), node.loc, node.tag)


def duration(c: Collector, entry: Entry, where: str) -> int | None:
    """Seconds, from ``90s``, ``1h 30m`` or a bare integer."""
    node = entry.value
    if not (isinstance(node, Scalar) and isinstance(node.value, str | int)) or isinstance(
        node.value, bool
    ):
        wrong_type(c, entry, where, "a duration (e.g. 30m)")
        return None
    try:
        seconds = parse_duration(node.value)
    except ValueError:
        c.error(node.loc, messages.invalid_duration(entry.name, where, shorten(str(node.value))))
        return None
    if seconds < 1:
        c.error(node.loc, messages.duration_too_short(entry.name, where))
        return None
    if seconds > MAX_DURATION:
        maximum = format_duration(MAX_DURATION)
        c.error(node.loc, messages.duration_too_long(entry.name, where, maximum))
        return None
    return seconds


def retry(c: Collector, entry: Entry, where: str) -> int | None:
    node = entry.value
    value = node.value if isinstance(node, Scalar) else None
    if not isinstance(value, int) or isinstance(value, bool):
        wrong_type(c, entry, where, "an integer")
        return None
    if not 0 <= value <= MAX_RETRY:
        c.error(node.loc, messages.retry_out_of_range(where, value, MAX_RETRY))
        return None
    return value


def allow_failure(c: Collector, entry: Entry, where: str) -> AllowFailure | None:
    """``true``, ``false`` or ``{exit_codes: [..]}`` (a single code is accepted too)."""
    node = entry.value
    if isinstance(node, Scalar) and isinstance(node.value, bool):
        return AllowFailure(allowed=node.value)
    if not isinstance(node, Map):
        wrong_type(c, entry, where, ALLOW_FAILURE_SHAPE)
        return None
    of = f"'allow_failure' of {where}"
    check_keys(c, node, of, ("exit_codes",))
    codes_entry = node.get("exit_codes")
    if codes_entry is None:
        c.error(node.loc, messages.missing_key("exit_codes", of))
        return None
    codes_node = codes_entry.value
    items = codes_node.items if isinstance(codes_node, Seq) else (codes_node,)
    if isinstance(codes_node, Map):
        wrong_type(c, codes_entry, of, "an exit code or a list of exit codes")
        return None
    if not items:
        c.error(codes_node.loc, messages.empty_exit_codes(where))
        return None
    codes = [_exit_code(c, item, where) for item in items]
    if any(code is None for code in codes):
        return None
    return AllowFailure(allowed=True, exit_codes=tuple(code for code in codes if code is not None))


def _exit_code(c: Collector, node: Node, where: str) -> int | None:
    value = node.value if isinstance(node, Scalar) else None
    if not isinstance(value, int) or isinstance(value, bool):
        message = messages.wrong_type(
            "exit_codes", f"'allow_failure' of {where}", "an integer exit code", describe(node)
        )
        c.error(node.loc, message)
        return None
    if not 1 <= value <= 255:
        c.error(node.loc, messages.exit_code_out_of_range(where, value))
        return None
    return value


ARTIFACT_KEYS = (
    "paths",
    "when",
    "exclude",
    "untracked",
    "name",
    "expire_in",
    "reports",
    "expose_as",
    "public",
    "access",
)


def artifacts(c: Collector, entry: Entry, where: str) -> Artifacts | None:
    """``{paths, exclude, untracked, when, name, expire_in, reports}``; ``paths`` is
    required unless ``untracked`` or ``reports`` say what to keep."""
    node = mapping(c, entry, where)
    if node is None:
        return None
    of = f"'artifacts' of {where}"
    check_keys(c, node, of, ARTIFACT_KEYS)
    located: list[tuple[str, Loc]] | None = []
    paths_entry = node.get("paths")
    untracked_entry = node.get("untracked")
    untracked = False
    if untracked_entry is not None:
        flag = untracked_entry.value
        untracked = isinstance(flag, Scalar) and flag.value is True
        if not (isinstance(flag, Scalar) and isinstance(flag.value, bool)):
            wrong_type(c, untracked_entry, of, "true or false")
    reports = _reports(c, node.get("reports"), of)
    if paths_entry is None:
        if not untracked and reports is None:
            c.error(node.loc, messages.missing_key("paths", of))
            located = None
    else:
        located = _paths(c, paths_entry, of, where)
    exclude_entry = node.get("exclude")
    exclude = _paths(c, exclude_entry, of, where) if exclude_entry is not None else []
    when_entry = node.get("when")
    when = ArtifactWhen.ON_SUCCESS if when_entry is None else _artifact_when(c, when_entry, where)
    name_entry, expire_entry = node.get("name"), node.get("expire_in")
    name = string(c, name_entry, of) if name_entry is not None else ""
    expire_in = _scalar_text(c, expire_entry, of) if expire_entry is not None else ""
    if located is None or when is None or exclude is None or name is None or expire_in is None:
        return None
    return Artifacts(
        paths=tuple(path for path, _ in located),
        when=when,
        exclude=tuple(path for path, _ in exclude),
        untracked=untracked,
        name=name,
        expire_in=expire_in,
        reports=reports or {},
    )


def _paths(c: Collector, entry: Entry, of: str, where: str) -> list[tuple[str, Loc]] | None:
    located = located_strings(c, entry, of)
    if located == []:
        c.error(entry.value.loc, messages.empty_value(entry.name, of))
        return None
    outside = [(path, loc) for path, loc in located or () if not _inside_workspace(path)]
    for path, loc in outside:
        c.error(loc, messages.artifact_path_outside(path, where))
    return None if outside else located


def _reports(c: Collector, entry: Entry | None, of: str) -> dict[str, tuple[str, ...]] | None:
    """Report files by kind (``junit: report.xml``), kept as written."""
    if entry is None:
        return None
    node = mapping(c, entry, of)
    if node is None:
        return None
    reports: dict[str, tuple[str, ...]] = {}
    for item in node:
        value = item.value
        if isinstance(value, Map) and (path := value.get("path")) is not None:
            value = path.value
        found = value.items if isinstance(value, Seq) else (value,)
        reports[item.name] = tuple(
            str(v.value) for v in found if isinstance(v, Scalar) and isinstance(v.value, str)
        )
    return reports


def _scalar_text(c: Collector, entry: Entry, where: str) -> str | None:
    node = entry.value
    if isinstance(node, Scalar) and isinstance(node.value, str | int) and node.value is not True:
        return str(node.value)
    wrong_type(c, entry, where, "a string")
    return None


def _artifact_when(c: Collector, entry: Entry, where: str) -> ArtifactWhen | None:
    node = entry.value
    choices = [w.value for w in ArtifactWhen]
    if not (isinstance(node, Scalar) and isinstance(node.value, str)):
        wrong_type(c, entry, f"'artifacts' of {where}", "on_success, on_failure or always")
        return None
    if node.value not in choices:
        c.error(node.loc, messages.invalid_when(where, shorten(node.value), choices))
        return None
    return ArtifactWhen(node.value)


def _inside_workspace(path: str) -> bool:
    normal = posixpath.normpath(path)
    return not (path.startswith("/") or normal == ".." or normal.startswith("../"))


VARIABLE_KEYS = ("value", "description", "expand", "options", "masked")


def variables(c: Collector, entry: Entry, where: str) -> dict[str, str] | None:
    """Names must be environment names. A value is a string, number or boolean (as
    text), ``null`` (empty), or ``{value, description, expand, options, masked}``; with
    ``expand: false`` its ``$`` stay as written when the job runs (``masked`` is read
    by :func:`xxci.common.spec.secrets.masked_names`)."""
    node = entry.value
    if isinstance(node, Scalar) and node.value is None:
        return {}
    section = mapping(c, entry, where)
    if section is None:
        return None
    result: dict[str, str] = {}
    ok = True
    for item in section:
        name = item.key
        if not (isinstance(name, str) and VARIABLE_NAME.fullmatch(name)):
            c.error(item.key_loc, messages.invalid_variable_name(shorten(item.name), where))
            ok = False
            continue
        value = _variable(c, item, name, where)
        if value is None:
            ok = False
            continue
        result[name] = value
    return result if ok else None


def _variable(c: Collector, item: Entry, name: str, where: str) -> str | None:
    node = item.value
    expand = True
    if isinstance(node, Map):
        of = f"variable '{name}' of {where}" if where else f"variable '{name}'"
        check_keys(c, node, of, VARIABLE_KEYS)
        if (expand_entry := node.get("expand")) is not None:
            flag = expand_entry.value
            if not (isinstance(flag, Scalar) and isinstance(flag.value, bool)):
                wrong_type(c, expand_entry, of, "true or false")
                return None
            expand = flag.value
        if (masked := node.get("masked")) is not None and not (
            isinstance(masked.value, Scalar) and isinstance(masked.value.value, bool)
        ):
            wrong_type(c, masked, of, "true or false")
            return None
        value_entry = node.get("value")
        node = value_entry.value if value_entry is not None else Scalar(None, node.loc)
    value = _variable_value(node)
    if value is None:
        expected = "a string, number or boolean"
        c.error(node.loc, _wrong_type(f"variables.{name}", node, where, expected))
        return None
    return value if expand else value.replace("$", "$$")


def _variable_value(node: Node) -> str | None:
    value = node.value if isinstance(node, Scalar) else None
    if isinstance(node, Scalar) and value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None
