"""``$VAR`` and ``${VAR}`` in pipeline values, expanded as GitLab expands them.

``$$`` stands for a literal ``$``. A variable that is not defined expands to nothing.
:func:`expand_all` resolves variables that refer to one another (a reference cycle is
left as written) the way GitLab prepares a job's environment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

__all__ = ["escape", "expand", "expand_all", "references"]

_TOKEN = re.compile(r"\$\$|\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def expand(text: str, lookup: Callable[[str], str | None] | Mapping[str, str]) -> str:
    """``text`` with every variable replaced by its value (``""`` when undefined)."""
    get = lookup.get if isinstance(lookup, Mapping) else lookup

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        value = get(match.group(1) or match.group(2))
        return "" if value is None else value

    return _TOKEN.sub(replace, text)


def references(text: str) -> list[str]:
    """The variable names ``text`` refers to, in order (``$$`` is not a reference)."""
    return [m.group(1) or m.group(2) for m in _TOKEN.finditer(text) if m.group(0) != "$$"]


def escape(text: str) -> str:
    """``text`` protected from expansion (``expand(escape(t), ...) == t``)."""
    return text.replace("$", "$$")


def expand_all(variables: Mapping[str, str]) -> dict[str, str]:
    """Every value expanded against the others, as GitLab prepares a job's environment.

    Two passes, as in GitLab: the values are expanded against one another, recursively,
    keeping ``$$`` (the server's pass); then each result is expanded once more (the
    runner's pass), which resolves a reference a first pass has only just made (
    ``${URL_${ENV}}`` with ``ENV=DEV`` is ``$URL_DEV``'s value) and turns ``$$`` into
    ``$``. A value that refers to itself, directly or through others, keeps the
    unexpandable reference as written instead of looping.
    """
    done: dict[str, str] = {}
    active: set[str] = set()

    def value_of(name: str) -> str | None:
        if name in done:
            return done[name]
        if name not in variables:
            return None
        if name in active:
            return None
        active.add(name)
        done[name] = _expand_keeping_cycles(variables[name], value_of, active)
        active.discard(name)
        return done[name]

    for name in variables:
        value_of(name)
    plain = {name: value.replace("$$", "$") for name, value in done.items()}
    return {name: expand(done[name], plain) for name in variables}


def _expand_keeping_cycles(
    text: str, value_of: Callable[[str], str | None], active: set[str]
) -> str:
    """``text`` expanded, escapes kept (``$$``); a reference into a cycle escaped."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$$"
        name = match.group(1) or match.group(2)
        if name in active:
            return "$" + match.group(0)
        value = value_of(name)
        return "" if value is None else value

    return _TOKEN.sub(replace, text)
