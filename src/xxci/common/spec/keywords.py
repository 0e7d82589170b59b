"""Readers for the job keywords beyond the basic ones: ``image`` in its long form,
``services``, ``cache``, ``retry`` with ``when``, ``release``,
``inherit``, ``coverage`` and the plain flags.

They follow :mod:`xxci.common.spec.fields`: each takes an :class:`Entry` and the
``where`` of its messages, returns the typed value or None after recording the
problem, and never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeVar

from xxci.common.spec import fields, messages
from xxci.common.spec import keyword_messages as km
from xxci.common.spec.expressions import ExpressionError, compile_pattern
from xxci.common.spec.fields import Collector
from xxci.common.spec.services_cache import (
    Cache,
    CachePolicy,
    CacheWhen,
    Service,
    default_aliases,
)
from xxci.common.spec.tree import Entry, Loc, Map, Node, Scalar, Seq, describe

__all__ = [
    "ImageSpec",
    "Inherit",
    "RetrySpec",
    "boolean",
    "cache",
    "coverage",
    "image",
    "inherit",
    "release",
    "retry",
    "services",
]

IMAGE_KEYS = ("name", "entrypoint", "pull_policy", "docker", "kubernetes")
SERVICE_KEYS = ("name", "alias", "entrypoint", "command", "variables", "pull_policy", "docker")
CACHE_KEYS = ("key", "paths", "untracked", "unprotect", "policy", "when", "fallback_keys")
RETRY_KEYS = ("max", "when", "exit_codes")
RETRY_WHEN = {
    "always": ("script_failure", "timeout", "image_pull_failure", "system_failure"),
    "unknown_failure": ("system_failure",),
    "script_failure": ("script_failure",),
    "api_failure": ("system_failure",),
    "stuck_or_timeout_failure": ("timeout",),
    "job_execution_timeout": ("timeout",),
    "runner_system_failure": ("system_failure",),
    "scheduler_failure": ("system_failure",),
    "data_integrity_failure": ("system_failure",),
    "unmet_prerequisites": ("image_pull_failure",),
    "runner_unsupported": (),
    "stale_schedule": (),
    "archived_failure": (),
}
"""GitLab's ``retry: when`` failure types, as the xxci failure reasons they stand for."""
INHERIT_KEYS = ("default", "variables")


@dataclass(frozen=True)
class ImageSpec:
    """An image as written (``$VAR`` not yet expanded) and where."""

    name: str
    loc: Loc
    entrypoint: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RetrySpec:
    max: int
    on: tuple[str, ...] = ()
    exit_codes: tuple[int, ...] = ()


@dataclass(frozen=True)
class Inherit:
    """What a job takes from ``default`` and the top-level ``variables``: True (all),
    False (nothing) or the names listed."""

    default: bool | frozenset[str] = True
    variables: bool | frozenset[str] = True


def boolean(c: Collector, entry: Entry, where: str) -> bool | None:
    node = entry.value
    if isinstance(node, Scalar) and isinstance(node.value, bool):
        return node.value
    fields.wrong_type(c, entry, where, "true or false")
    return None


def _commands(c: Collector, entry: Entry, where: str) -> tuple[str, ...] | None:
    """A string (one word list split on spaces, as GitLab does) or a list of strings."""
    node = entry.value
    if isinstance(node, Scalar) and isinstance(node.value, str):
        return tuple(node.value.split())
    return fields.strings(c, entry, where)


def image(c: Collector, entry: Entry, where: str) -> ImageSpec | None:
    """``image: NAME`` or ``{name, entrypoint, pull_policy}``."""
    node = entry.value
    if isinstance(node, Scalar):
        name = fields.string(c, entry, where)
        return None if name is None else ImageSpec(name, node.loc)
    if not isinstance(node, Map):
        fields.wrong_type(c, entry, where, "an image name or {name, entrypoint}")
        return None
    of = f"'image' of {where}"
    fields.check_keys(c, node, of, IMAGE_KEYS)
    for key in ("docker", "kubernetes"):
        if (unsupported := node.get(key)) is not None:
            c.error(unsupported.key_loc, km.not_runnable(key, of, "executor options"))
    if (pull := node.get("pull_policy")) is not None:
        c.note(
            pull.key_loc, km.not_acted_on("pull_policy", of) + " (images are pulled when absent)"
        )
    name_entry = node.get("name")
    if name_entry is None:
        c.error(node.loc, messages.missing_key("name", of))
        return None
    name = fields.string(c, name_entry, of)
    entrypoint_entry = node.get("entrypoint")
    entrypoint = None if entrypoint_entry is None else _entrypoint(c, entrypoint_entry, of)
    if name is None:
        return None
    return ImageSpec(name, name_entry.value.loc, entrypoint)


def _entrypoint(c: Collector, entry: Entry, where: str) -> tuple[str, ...] | None:
    node = entry.value
    if isinstance(node, Seq) and all(
        isinstance(i, Scalar) and isinstance(i.value, str) for i in node.items
    ):
        return tuple(str(i.value) for i in node.items if isinstance(i, Scalar))
    if isinstance(node, Scalar) and isinstance(node.value, str):
        return (node.value,)
    fields.wrong_type(c, entry, where, "a list of strings")
    return None


def services(c: Collector, entry: Entry, where: str) -> tuple[Service, ...] | None:
    """A list of images or ``{name, alias, entrypoint, command, variables}``."""
    node = entry.value
    if not isinstance(node, Seq):
        fields.wrong_type(c, entry, where, "a list of services")
        return None
    found: list[Service] = []
    ok = True
    for item in node.items:
        service = _service(c, item, where)
        ok = ok and service is not None
        if service is not None:
            found.append(service)
    return tuple(found) if ok else None


def _service(c: Collector, node: Node, where: str) -> Service | None:
    item = Entry("services", node.loc, node)
    if isinstance(node, Scalar):
        name = fields.string(c, item, where)
        return None if name is None else Service(name, default_aliases(name))
    if not isinstance(node, Map):
        c.error(node.loc, messages.wrong_type("services", where, "a service", describe(node)))
        return None
    of = f"a service of {where}"
    fields.check_keys(c, node, of, SERVICE_KEYS)
    if (docker := node.get("docker")) is not None:
        c.error(docker.key_loc, km.not_runnable("docker", of, "executor options"))
    name_entry = node.get("name")
    if name_entry is None:
        c.error(node.loc, messages.missing_key("name", of))
        return None
    name = fields.string(c, name_entry, of)
    alias_entry = node.get("alias")
    alias = fields.string(c, alias_entry, of) if alias_entry else ""
    entrypoint = _optional(c, node, "entrypoint", of, _entrypoint)
    command = _optional(c, node, "command", of, _entrypoint)
    variables_entry = node.get("variables")
    variables = fields.variables(c, variables_entry, of) if variables_entry else {}
    if name is None or alias is None or variables is None:
        return None
    aliases = default_aliases(name) + tuple(a.strip() for a in alias.split(",") if a.strip())
    return Service(name, tuple(dict.fromkeys(aliases)), entrypoint, command, variables)


def _optional(
    c: Collector, node: Map, key: str, where: str, reader: fields.Reader[fields.T]
) -> fields.T | None:
    entry = node.get(key)
    return None if entry is None else reader(c, entry, where)


def cache(c: Collector, entry: Entry, where: str) -> tuple[Cache, ...] | None:
    """One cache (a mapping) or a list of them; ``{}`` or ``[]`` for none."""
    node = entry.value
    items = node.items if isinstance(node, Seq) else (node,)
    if isinstance(node, Scalar) and node.value is None:
        return ()
    found: list[Cache] = []
    ok = True
    for item in items:
        if not isinstance(item, Map):
            c.error(item.loc, messages.wrong_type("cache", where, "a mapping", describe(item)))
            ok = False
            continue
        if not item.entries:
            continue
        one = _cache(c, item, f"the cache of {where}")
        ok = ok and one is not None
        if one is not None:
            found.append(one)
    return tuple(found) if ok else None


def _cache(c: Collector, node: Map, of: str) -> Cache | None:
    fields.check_keys(c, node, of, CACHE_KEYS)
    key, prefix, ok = "default", "", True
    key_files: tuple[str, ...] = ()
    if (key_entry := node.get("key")) is not None:
        if isinstance(key_entry.value, Map):
            key_map = key_entry.value
            fields.check_keys(c, key_map, f"'key' of {of}", ("files", "prefix"))
            files_entry = key_map.get("files")
            found = fields.strings(c, files_entry, of) if files_entry else None
            if found is None or not 1 <= len(found) <= 2:
                if found is not None or files_entry is None:
                    c.error(key_map.loc, km.cache_key_files(of))
                ok = False
            else:
                key_files = found
            prefix_entry = key_map.get("prefix")
            prefix = (fields.string(c, prefix_entry, of) or "") if prefix_entry else ""
        else:
            text = _text(c, key_entry, of)
            ok = ok and text is not None
            key = text or key
    paths = _optional(c, node, "paths", of, fields.strings) or ()
    untracked = _optional(c, node, "untracked", of, boolean) or False
    policy = _enum(c, node, "policy", of, CachePolicy) or CachePolicy.PULL_PUSH
    when = _enum(c, node, "when", of, CacheWhen) or CacheWhen.ON_SUCCESS
    fallback = _optional(c, node, "fallback_keys", of, fields.strings) or ()
    if not ok:
        return None
    return Cache(key, key_files, prefix, paths, untracked, policy, when, fallback)


def _text(c: Collector, entry: Entry, where: str) -> str | None:
    """A string, or a number written without quotes, as text."""
    node = entry.value
    if (
        isinstance(node, Scalar)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return str(node.value)
    return fields.string(c, entry, where)


E = TypeVar("E", CachePolicy, CacheWhen)


def _enum(c: Collector, node: Map, key: str, where: str, kind: type[E]) -> E | None:
    entry = node.get(key)
    if entry is None:
        return None
    value = entry.value.value if isinstance(entry.value, Scalar) else None
    choices = [member.value for member in kind]
    if not isinstance(value, str) or value not in choices:
        c.error(entry.value.loc, km.choice(key, where, str(value), choices))
        return None
    return kind(value)


def retry(c: Collector, entry: Entry, where: str) -> RetrySpec | None:
    """``retry: N`` or ``{max, when, exit_codes}``."""
    node = entry.value
    if not isinstance(node, Map):
        count = fields.retry(c, entry, where)
        return None if count is None else RetrySpec(count)
    of = f"'retry' of {where}"
    fields.check_keys(c, node, of, RETRY_KEYS)
    max_entry = node.get("max")
    count = fields.retry(c, max_entry, where) if max_entry else 0
    on: list[str] = []
    if (when_entry := node.get("when")) is not None:
        values = _one_or_many(when_entry.value)
        for value in values:
            text = value.value if isinstance(value, Scalar) else None
            if not isinstance(text, str) or text not in RETRY_WHEN:
                c.error(value.loc, km.choice("when", of, str(text), RETRY_WHEN))
                count = None
                continue
            on.extend(reason for reason in RETRY_WHEN[text] if reason not in on)
    codes: list[int] = []
    if (codes_entry := node.get("exit_codes")) is not None:
        for value in _one_or_many(codes_entry.value):
            code = value.value if isinstance(value, Scalar) else None
            if not isinstance(code, int) or isinstance(code, bool):
                c.error(
                    value.loc,
                    messages.wrong_type("exit_codes", of, "an exit code", describe(value)),
                )
                count = None
            else:
                codes.append(code)
    if count is None:
        return None
    return RetrySpec(count, tuple(on), tuple(codes))


def _one_or_many(node: Node) -> tuple[Node, ...]:
    return node.items if isinstance(node, Seq) else (node,)


def coverage(c: Collector, entry: Entry, where: str) -> str | None:
    """A ``/regex/``, checked to compile."""
    text = fields.string(c, entry, where)
    if text is None:
        return None
    try:
        compile_pattern(text)
    except ExpressionError as error:
        c.error(entry.value.loc, km.invalid_regex("coverage", where, str(error)))
        return None
    return text


def release(c: Collector, entry: Entry, where: str) -> str | None:
    """The release's ``tag_name``."""
    node = fields.mapping(c, entry, where)
    if node is None:
        return None
    tag = node.get("tag_name")
    if tag is None:
        c.error(node.loc, messages.missing_key("tag_name", f"'release' of {where}"))
        return None
    return fields.string(c, tag, f"'release' of {where}")


def inherit(c: Collector, entry: Entry, where: str) -> Inherit | None:
    node = fields.mapping(c, entry, where)
    if node is None:
        return None
    of = f"'inherit' of {where}"
    fields.check_keys(c, node, of, INHERIT_KEYS)
    result: dict[str, bool | frozenset[str]] = {}
    for key in INHERIT_KEYS:
        item = node.get(key)
        if item is None:
            continue
        if isinstance(item.value, Scalar) and isinstance(item.value.value, bool):
            result[key] = item.value.value
        else:
            names = fields.strings(c, item, of)
            if names is None:
                return None
            result[key] = frozenset(names)
    return Inherit(**result)


IMAGE_REFERENCE = re.compile(
    r"(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:]+\])(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[\w][\w.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)
"""Docker's image reference grammar (distribution/reference): an optional registry
host, lowercase path components, an optional tag and digest."""


def valid_image_reference(name: str) -> bool:
    return len(name) <= 255 and IMAGE_REFERENCE.fullmatch(name) is not None
