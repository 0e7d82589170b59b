"""``--override KEY.PATH=VALUE``: patch a parsed pipeline file before validation.

The path walks mappings by key (``default.image``); under ``jobs`` it names a job,
whether ``jobs`` is a list or a mapping (``jobs.compile.timeout``). A part in double
quotes may hold dots (``jobs."unit.test".image``). Missing mappings
and jobs along the path are created. The value is read as YAML (``10m``, ``true``,
``[build, test]``, ``{exit_codes: [3]}``); text that only YAML would read as a block
mapping or list (``echo a: b``) stays a string.

An overridden value points at the key it replaced, or at 1:1 when the key is new, and
its diagnostics say ``(from --override)``. A malformed override is a
:class:`~xxci.common.errors.UsageError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ruamel.yaml import YAML

from xxci.common.errors import UsageError
from xxci.common.spec import messages
from xxci.common.spec.parser import to_node
from xxci.common.spec.tree import Entry, Loc, Map, Node, Scalar, Seq, describe

_FLOW_START = ("[", "{")


@dataclass(frozen=True)
class Override:
    """One parsed ``KEY.PATH=VALUE``."""

    path: tuple[str, ...]
    value: object
    text: str
    """As given on the command line, for messages."""


def parse_override(text: str) -> Override:
    """Split and parse ``KEY.PATH=VALUE``; :class:`UsageError` if it is malformed."""
    if (problem := _not_text(text)) is not None:
        raise UsageError(messages.invalid_override(text, problem))
    key, equals, raw = text.partition("=")
    if not equals:
        raise UsageError(messages.invalid_override(text, "expected KEY.PATH=VALUE"))
    path = _split_path(key)
    if not all(path):
        raise UsageError(messages.invalid_override(text, "the key path has an empty part"))
    try:
        value = YAML(typ="safe", pure=True).load(raw)
    except Exception as error:  # any YAML problem in a command-line value is a usage error
        problem = getattr(error, "problem", None) or type(error).__name__
        raise UsageError(
            f"invalid --override '{text}': the value is not YAML ({problem})"
        ) from error
    if isinstance(value, dict | list) and not raw.lstrip().startswith(_FLOW_START):
        value = raw
    return Override(path, value, text)


def _not_text(text: str) -> str | None:
    """Why a command-line argument is not text a pipeline may hold, or None."""
    if "\0" in text:
        return "it holds a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        code = ord(text[error.start])
        # An argument that is not UTF-8 arrives with each bad byte as U+DC80..U+DCFF.
        kind = "a byte that is not UTF-8" if 0xDC80 <= code <= 0xDCFF else "a lone surrogate"
        return f"it is not valid text (it holds \\u{code:04x}, {kind})"
    return None


def _split_path(key: str) -> tuple[str, ...]:
    """``a."b.c".d`` -> ``("a", "b.c", "d")``: a part in double quotes may hold dots."""
    parts: list[str] = []
    current, quoted = "", False
    for char in key:
        if char == '"':
            quoted = not quoted
        elif char == "." and not quoted:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return tuple(parts)


def apply_overrides(root: Map, overrides: Sequence[str | Override]) -> Map:
    """``root`` with each override applied in order (a new tree; ``root`` is unchanged)."""
    for item in overrides:
        override = parse_override(item) if isinstance(item, str) else item
        root = _set(root, override.path, override, ())
    return root


def _set(mapping: Map, path: tuple[str, ...], override: Override, done: tuple[str, ...]) -> Map:
    key, rest = path[0], path[1:]
    here = (*done, key)
    entries = list(mapping.entries)
    index = next((i for i, entry in enumerate(entries) if entry.key == key), None)
    key_loc = entries[index].key_loc if index is not None else Loc(overridden=True)
    old = entries[index].value if index is not None else None
    marked = Loc(key_loc.line, key_loc.column, overridden=True)
    if not rest:
        value = to_node(override.value, marked)
    elif old is None or (isinstance(old, Scalar) and old.value is None):
        value = _set(Map((), marked), rest, override, here)
    elif isinstance(old, Map):
        value = _set(old, rest, override, here)
    elif isinstance(old, Seq) and here == ("jobs",):
        value = _set_job(old, rest, override)
    else:
        dotted = ".".join(here)
        raise UsageError(messages.override_into_non_mapping(override.text, dotted, describe(old)))
    entry = Entry(key, key_loc, value)
    if index is None:
        entries.append(entry)
    else:
        entries[index] = entry
    return Map(tuple(entries), mapping.loc)


def _set_job(jobs: Seq, path: tuple[str, ...], override: Override) -> Seq:
    """Apply ``path`` (job name first) inside a list of jobs; a new name adds a job."""
    name, rest = path[0], path[1:]
    items = list(jobs.items)
    index = next((i for i, item in enumerate(items) if _job_name(item) == name), None)
    if index is None:
        new = Loc(overridden=True)
        items.append(Map((Entry("name", new, Scalar(name, new)),), new))
        index = len(items) - 1
    job = items[index]
    if rest:
        assert isinstance(job, Map)  # only mappings have a name
        items[index] = _set(job, rest, override, ("jobs", name))
    else:
        items[index] = _named(
            to_node(override.value, Loc(job.loc.line, job.loc.column, True)), name
        )
    return Seq(tuple(items), jobs.loc)


def _job_name(node: Node) -> object:
    if isinstance(node, Map) and (entry := node.get("name")) and isinstance(entry.value, Scalar):
        return entry.value.value
    return None


def _named(node: Node, name: str) -> Node:
    """A replacement job in list form keeps its name."""
    if isinstance(node, Map) and node.get("name") is None:
        return Map((Entry("name", node.loc, Scalar(name, node.loc)), *node.entries), node.loc)
    return node
