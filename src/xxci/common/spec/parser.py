"""YAML text to a located tree: the one place that meets ruamel.yaml.

ruamel's round-trip loader keeps the line and column of every key and value on the
containing mapping or list (``lc``); this module turns its result into a
:mod:`~xxci.common.spec.tree` whose every node carries its own :class:`Loc`. Duplicate
keys are not fatal: a constructor hook records each one (the first value wins) so that
all of them are reported with the rest of the validation; so is text that is not valid
Unicode (a lone surrogate from a ``\\ud83d`` escape) or holds a NUL, which no name or
value may hold. The file's size and nesting are limited (:mod:`limits`) before and
while it is read, and comments are read in one slice (:mod:`scanner`).
"""

from __future__ import annotations

import dataclasses
import datetime
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import TaggedScalar
from ruamel.yaml.composer import ComposerError, MaxDepthExceededError
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarbool import ScalarBoolean

from xxci.common.errors import Diagnostic, SpecError
from xxci.common.spec import messages
from xxci.common.spec.limits import DEFAULT_LIMITS, SpecLimits, oversized
from xxci.common.spec.scanner import LinearScanner
from xxci.common.spec.tree import Entry, Loc, Map, Node, Scalar, Seq, Tagged, describe


@dataclass(frozen=True)
class Document:
    """A parsed pipeline file: its top-level mapping and the duplicate keys found in it."""

    file: str
    root: Map
    duplicates: tuple[Diagnostic, ...] = ()
    invalid: tuple[Diagnostic, ...] = ()
    """Keys and values that are not valid text (lone surrogates, NUL)."""


def parse_document(
    text: str, file: str, *, stamp_file: bool = False, limits: SpecLimits = DEFAULT_LIMITS
) -> Document:
    """Parse one pipeline file's text.

    Raises :class:`SpecError` with a single diagnostic when the text is not YAML, is
    empty, is not a mapping, or exceeds ``limits.max_bytes`` or ``limits.max_depth``;
    everything else is left to the validator. With ``stamp_file`` every position names
    ``file`` (for an included file, whose nodes end up in the tree of the file that
    includes it).
    """
    if (too_big := oversized(text, file, limits)) is not None:
        raise SpecError([too_big])
    converter = _Converter(file if stamp_file else "")
    try:
        data, constructor = _load(text, limits, last_wins=False)
        if constructor.duplicates and gitlab_shaped(file, data):
            # GitLab (Ruby's YAML) keeps the last value of a repeated key.
            data, constructor = _load(text, limits, last_wins=True)
        start = _container_loc(data)
        root = converter.node(data, dataclasses.replace(start, file=converter.file or start.file))
    except MaxDepthExceededError as error:
        mark = error.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        message = messages.too_deep(limits.max_depth)
        raise SpecError([Diagnostic(file, line, column, message)]) from None
    except MarkedYAMLError as error:
        raise SpecError([_marked_error(file, error)]) from error
    except ReaderError as error:
        line, column = _line_col(text, error.position)
        code = error.character if isinstance(error.character, int) else ord(error.character)
        problem = f"unacceptable character #x{code:04x}"
        raise SpecError([Diagnostic(file, line, column, messages.invalid_yaml(problem))]) from error
    except RecursionError as error:
        message = messages.invalid_yaml("the document is nested too deeply")
        raise SpecError([Diagnostic(file, 1, 1, message)]) from error
    except Exception as error:
        # Malformed explicit tags (``!!bool x``, ``!!float y``) make ruamel's constructors
        # raise plain ValueError/KeyError/TypeError without a position.
        message = messages.invalid_yaml(f"cannot construct a value ({type(error).__name__})")
        raise SpecError([Diagnostic(file, 1, 1, message)]) from error
    if data is None:
        raise SpecError([Diagnostic(file, 1, 1, messages.EMPTY_FILE)])
    if not isinstance(root, Map):
        loc = root.loc
        message = messages.not_a_mapping(describe(root))
        raise SpecError([Diagnostic(file, loc.line, loc.column, message)])
    duplicates = tuple(
        Diagnostic(file, loc.line, loc.column, messages.duplicate_key(key, first_line))
        for key, loc, first_line in constructor.duplicates
    )
    invalid = tuple(
        Diagnostic(loc.file or file, loc.line, loc.column, message)
        for loc, message in converter.invalid
    )
    return Document(file=file, root=root, duplicates=duplicates, invalid=invalid)


def gitlab_shaped(file: str, data: object) -> bool:
    """Whether a file is read as a ``.gitlab-ci.yml``: by its name (``*.gitlab-ci.yml``)
    or, for any other name, by its shape (no ``pipeline:`` section and no ``jobs:``)."""
    if PurePosixPath(file).name.endswith((".gitlab-ci.yml", ".gitlab-ci.yaml")):
        return True
    return isinstance(data, Mapping) and "pipeline" not in data and "jobs" not in data


def _load(text: str, limits: SpecLimits, *, last_wins: bool) -> tuple[Any, _RecordingConstructor]:
    yaml = YAML(typ="rt", pure=True)
    yaml.Constructor = _RecordingConstructor
    yaml.Scanner = LinearScanner
    yaml.max_depth = limits.max_depth
    with warnings.catch_warnings():
        # A reused anchor is valid YAML (the later one wins); ruamel warns on stderr.
        warnings.simplefilter("ignore")
        yaml.constructor.last_wins = last_wins
        data = yaml.load(text)
    constructor: _RecordingConstructor = yaml.constructor
    return data, constructor


def to_node(value: object, loc: Loc, file: str = "") -> Node:
    """Convert loaded YAML data (round-trip or plain) into tree nodes.

    Positions come from ruamel's ``lc`` where present, else ``loc`` is inherited: that is
    how values from ``--override`` (plain data) all point at the overridden key. A tag
    on a mapping or list is kept on the node (``!reference [job, key]``).
    """
    return _Converter(file).node(value, dataclasses.replace(loc, file=file or loc.file))


class _RecordingConstructor(RoundTripConstructor):
    """Round-trip constructor that records duplicate keys instead of raising; the
    first value of a repeated key is kept, or the last one with ``last_wins``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.duplicates: list[tuple[str, Loc, int]] = []
        self.last_wins = False

    def check_mapping_key(
        self, node: Any, key_node: Any, mapping: Any, key: Any, value: Any
    ) -> bool:
        if key not in mapping:
            return True
        first_line = mapping.lc.key(key)[0] + 1
        self._record(key, key_node, first_line)
        if not self.last_wins:
            return False
        # The last value, in the first one's place, as Ruby's YAML keeps it.
        mapping[key] = value
        value_node = next((v for k, v in node.value if k is key_node), key_node)
        key_mark, value_mark = key_node.start_mark, value_node.start_mark
        mapping._yaml_set_kv_line_col(
            key, [key_mark.line, key_mark.column, value_mark.line, value_mark.column]
        )
        return False

    def check_set_key(self, node: Any, key_node: Any, setting: Any, key: Any) -> None:
        if key in setting:
            self._record(key, key_node, node.start_mark.line + 1)

    def _record(self, key: object, key_node: Any, first_line: int) -> None:
        mark = key_node.start_mark
        loc = Loc(mark.line + 1, mark.column + 1)
        self.duplicates.append((str(_scalar(key)), loc, first_line))


class _Converter:
    def __init__(self, file: str) -> None:
        self.file = file
        self._done: dict[int, Node] = {}
        self._active: set[int] = set()
        self.invalid: list[tuple[Loc, str]] = []
        """Where text that is not valid is, and why (see :func:`invalid_text`)."""

    def node(self, value: object, loc: Loc) -> Node:
        if not isinstance(value, Mapping | list):
            return Scalar(self._checked(_scalar(value), loc), loc)
        # Aliases share one object: convert it once (an alias bomb stays small), and
        # cut a recursive alias with a null instead of looping.
        if id(value) in self._done:
            return self._done[id(value)]
        if id(value) in self._active:
            return Scalar(None, loc)
        self._active.add(id(value))
        node = self._map(value, loc) if isinstance(value, Mapping) else self._seq(value, loc)
        self._active.discard(id(value))
        self._done[id(value)] = node
        return node

    def _map(self, mapping: Mapping[Any, Any], loc: Loc) -> Map:
        positions = _lc_data(mapping)
        entries = []
        for key, value in mapping.items():
            where = positions.get(key)
            key_loc = _at(where, 0, loc)
            value_loc = key_loc if value is None else _at(where, 2, _container_loc(value, loc))
            entries.append(
                Entry(self._checked(_scalar(key), key_loc), key_loc, self.node(value, value_loc))
            )
        return Map(tuple(entries), loc, _tag(mapping))

    def _seq(self, items: list[Any], loc: Loc) -> Seq:
        positions = _lc_data(items)
        return Seq(
            tuple(
                self.node(item, _at(positions.get(i), 0, _container_loc(item, loc)))
                for i, item in enumerate(items)
            ),
            loc,
            _tag(items),
        )

    def _checked(self, value: object, loc: Loc) -> object:
        """``value``, noting where it is when it is text no name or value may hold."""
        text = value.text if isinstance(value, Tagged) else value
        if isinstance(text, str) and (problem := invalid_text(text)) is not None:
            self.invalid.append((loc, problem))
        return value


def invalid_text(text: str) -> str | None:
    """Why ``text`` cannot be a name or a value, or None: it holds a NUL, or a lone
    surrogate (``"\\ud83d"`` is half of a character, and cannot be written as UTF-8)."""
    if "\0" in text:
        return messages.nul_in_text(text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return messages.surrogate_in_text(text, error.object[error.start])
    return None


def _tag(container: object) -> str | None:
    """The application tag of a round-trip mapping or list (``!reference``), if any."""
    tag = getattr(container, "tag", None)
    value = getattr(tag, "value", None)
    return value if isinstance(value, str) else None


def _lc_data(container: object) -> Mapping[Any, Any]:
    lc = getattr(container, "lc", None)
    data = getattr(lc, "data", None)
    return data if isinstance(data, Mapping) else {}


def _at(position: object, offset: int, fallback: Loc) -> Loc:
    if isinstance(position, list | tuple) and len(position) >= offset + 2:
        line, column = position[offset], position[offset + 1]
        if isinstance(line, int) and isinstance(column, int):
            return Loc(line + 1, column + 1, fallback.overridden, fallback.file)
    return fallback


def _container_loc(value: object, fallback: Loc | None = None) -> Loc:
    """Where a mapping or list starts (ruamel records it on the container itself)."""
    fallback = fallback or Loc()
    lc = getattr(value, "lc", None)
    line, column = getattr(lc, "line", None), getattr(lc, "col", None)
    if isinstance(line, int) and isinstance(column, int):
        return Loc(line + 1, column + 1, fallback.overridden, fallback.file)
    return fallback


def _scalar(value: object) -> object:
    """ruamel's scalar subclasses (ScalarInt, ScalarFloat, ...) as plain Python values."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, ScalarBoolean):
        return bool(value)
    if isinstance(value, bool | int | float | str):
        return _plain_builtin(value)
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, TaggedScalar):
        return Tagged(str(value.tag), str(value.value))
    if isinstance(value, tuple):
        return tuple(_scalar(v) for v in value)
    return value


def _plain_builtin(value: bool | int | float | str) -> object:
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


def _marked_error(file: str, error: MarkedYAMLError) -> Diagnostic:
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    if isinstance(error, ComposerError) and "single document" in str(error.context):
        return Diagnostic(file, line, column, messages.SEVERAL_DOCUMENTS)
    problem = str(error.problem or error.context or "cannot parse the file")
    context = str(error.context) if error.problem and error.context else None
    return Diagnostic(file, line, column, messages.invalid_yaml(problem, context))


def _line_col(text: str, position: int) -> tuple[int, int]:
    before = text[:position]
    line = before.count("\n") + 1
    return line, position - (before.rfind("\n") + 1) + 1
