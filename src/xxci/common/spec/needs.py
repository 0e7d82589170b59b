"""``needs`` in all its forms, ``dependencies``, ``when`` and ``start_in``.

``needs`` is a list of job names or ``{job, artifacts, optional, parallel: {matrix}}``
(``needs: []`` says "needs nothing": in a ``.gitlab-ci.yml`` the job starts at once).
"""

from __future__ import annotations

from dataclasses import dataclass

from xxci.common.spec import fields, messages
from xxci.common.spec import keyword_messages as km
from xxci.common.spec.fields import Collector
from xxci.common.spec.matrix import Matrix, read_matrix
from xxci.common.spec.tree import Entry, Loc, Map, Scalar, Seq, describe

__all__ = [
    "NEVER",
    "WHEN_CHOICES",
    "NeedSpec",
    "read_dependencies",
    "read_needs",
    "read_start_in",
    "read_when",
]

NEED_KEYS = ("job", "artifacts", "optional", "parallel", "pipeline", "project", "ref")
NEVER = "never"
WHEN_CHOICES = ("on_success", "on_failure", "always", "manual", "delayed", NEVER)
MAX_START_IN = 7 * 86400


@dataclass(frozen=True)
class NeedSpec:
    """One need as written: the job (as written, before ``parallel`` expansion)."""

    job: str
    loc: Loc
    artifacts: bool = True
    optional: bool = False
    matrix: Matrix | None = None


def read_needs(c: Collector, entry: Entry, where: str) -> tuple[NeedSpec, ...] | None:
    node = entry.value
    if not isinstance(node, Seq):
        fields.wrong_type(c, entry, where, "a list of job names")
        return None
    found: list[NeedSpec] = []
    ok = True
    for item in fields.flatten(node).items:
        if isinstance(item, Scalar) and isinstance(item.value, str) and item.value.strip():
            found.append(NeedSpec(item.value, item.loc))
            continue
        if not isinstance(item, Map):
            expected = (
                "a string in the list" if isinstance(item, Scalar) else "a job name or {job: NAME}"
            )
            c.error(item.loc, fields.wrong_type_message(entry.name, item, where, expected))
            ok = False
            continue
        need = _need(c, item, where)
        ok = ok and need is not None
        if need is not None:
            found.append(need)
    return tuple(found) if ok else None


def _need(c: Collector, item: Map, where: str) -> NeedSpec | None:
    of = f"'needs' of {where}"
    fields.check_keys(c, item, of, NEED_KEYS)
    for key in ("pipeline", "project"):
        if (other := item.get(key)) is not None:
            c.error(
                other.key_loc,
                km.not_runnable(f"needs: {key}", where, "it needs another pipeline's jobs"),
            )
            return None
    job_entry = item.get("job")
    if job_entry is None:
        c.error(item.loc, messages.missing_key("job", of))
        return None
    name = fields.string(c, job_entry, of)
    artifacts = _flag(c, item, "artifacts", of, default=True)
    optional = _flag(c, item, "optional", of, default=False)
    matrix: Matrix | None = None
    if (parallel := item.get("parallel")) is not None:
        if not isinstance(parallel.value, Map) or parallel.value.get("matrix") is None:
            fields.wrong_type(c, parallel, of, "{matrix: [...]}")
            return None
        matrix_entry = parallel.value.get("matrix")
        assert matrix_entry is not None
        matrix = read_matrix(c, matrix_entry, of)
        if matrix is None:
            return None
    if name is None or artifacts is None or optional is None:
        return None
    return NeedSpec(name, job_entry.value.loc, artifacts, optional, matrix)


def _flag(c: Collector, node: Map, key: str, where: str, *, default: bool) -> bool | None:
    entry = node.get(key)
    if entry is None:
        return default
    if isinstance(entry.value, Scalar) and isinstance(entry.value.value, bool):
        return entry.value.value
    fields.wrong_type(c, entry, where, "true or false")
    return None


def read_dependencies(c: Collector, entry: Entry, where: str) -> tuple[tuple[str, Loc], ...] | None:
    node = entry.value
    if isinstance(node, Seq) and not node.items:
        return ()
    found = fields.located_strings(c, entry, where, "a list of job names")
    return None if found is None else tuple(found)


def read_when(
    c: Collector, entry: Entry, where: str, choices: tuple[str, ...] = WHEN_CHOICES
) -> str | None:
    node = entry.value
    value = node.value if isinstance(node, Scalar) else None
    if not isinstance(value, str) or value not in choices:
        c.error(
            node.loc,
            km.choice("when", where, str(value) if value is not None else describe(node), choices),
        )
        return None
    return value


def read_start_in(c: Collector, entry: Entry, where: str) -> int | None:
    seconds = fields.duration(c, entry, where)
    if seconds is not None and seconds > MAX_START_IN:
        c.error(entry.value.loc, messages.duration_too_long("start_in", where, "1 week"))
        return None
    return seconds
