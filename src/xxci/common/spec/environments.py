"""``environment``: what a deployment job says about where it deploys, and the
``CI_ENVIRONMENT_*`` variables GitLab gives such a job.

xxci keeps no environments itself (no deployments, no stop jobs); it reads the
keyword, shows it in ``dry-run`` and sets the variables a script may rely on:
``CI_ENVIRONMENT_NAME``, ``CI_ENVIRONMENT_SLUG``, ``CI_ENVIRONMENT_URL``,
``CI_ENVIRONMENT_ACTION`` and ``CI_ENVIRONMENT_TIER``, computed as GitLab computes
them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from xxci.common.spec import fields, messages
from xxci.common.spec import keyword_messages as km
from xxci.common.spec.fields import Collector
from xxci.common.spec.tree import Entry, Map, Scalar

__all__ = ["EnvironmentSpec", "environment", "environment_slug", "environment_tier"]

ENVIRONMENT_KEYS = (
    "name",
    "url",
    "action",
    "on_stop",
    "auto_stop_in",
    "kubernetes",
    "deployment_tier",
)
ACTIONS = ("start", "prepare", "stop", "verify", "access")
TIERS = ("production", "staging", "testing", "development", "other")
_TIER_GUESSES = (
    (re.compile(r"(dev|review|trunk)", re.IGNORECASE), "development"),
    (re.compile(r"(test|tst|int|ac(ce|)pt|qa|qc|control|quality)", re.IGNORECASE), "testing"),
    (re.compile(r"(st(a|)g|mod(e|)l|pre|demo|non)", re.IGNORECASE), "staging"),
    (re.compile(r"(pr(o|)d|live)", re.IGNORECASE), "production"),
)


@dataclass(frozen=True)
class EnvironmentSpec:
    """An ``environment`` as written (``$VAR`` not expanded yet)."""

    name: str
    url: str = ""
    action: str = "start"
    tier: str = ""
    """The ``deployment_tier`` written, "" to let the name decide."""


def environment(c: Collector, entry: Entry, where: str) -> EnvironmentSpec | None:
    """``environment: NAME`` or ``{name, url, action, deployment_tier, ...}``."""
    node = entry.value
    if not isinstance(node, Map):
        name = fields.string(c, entry, where)
        return None if name is None else EnvironmentSpec(name)
    of = f"'environment' of {where}"
    fields.check_keys(c, node, of, ENVIRONMENT_KEYS)
    name_entry = node.get("name")
    if name_entry is None:
        c.error(node.loc, messages.missing_key("name", of))
        return None
    name = fields.string(c, name_entry, of)
    url = _text(c, node, "url", of)
    action = _choice(c, node, "action", of, ACTIONS) or "start"
    tier = _choice(c, node, "deployment_tier", of, TIERS) or ""
    if name is None or url is None:
        return None
    return EnvironmentSpec(name, url, action, tier)


def _text(c: Collector, node: Map, key: str, where: str) -> str | None:
    entry = node.get(key)
    return "" if entry is None else fields.string(c, entry, where)


def _choice(c: Collector, node: Map, key: str, where: str, choices: tuple[str, ...]) -> str | None:
    entry = node.get(key)
    if entry is None:
        return None
    value = entry.value.value if isinstance(entry.value, Scalar) else None
    if not isinstance(value, str) or value not in choices:
        c.error(entry.value.loc, km.choice(key, where, str(value), choices))
        return None
    return value


def environment_slug(name: str) -> str:
    """GitLab's ``CI_ENVIRONMENT_SLUG``: lowercase letters, digits and single dashes,
    starting with a letter, at most 24 characters; a name that had to change gets a
    short digest of itself at the end, so that two names never share a slug."""
    slug = re.sub(r"[^a-z0-9]", "-", name.lower())
    if not slug[:1].isalpha() or not slug[:1].isascii():
        slug = "env-" + slug
    slug = re.sub(r"-+", "-", slug)
    if len(slug) > 24 or slug != name:
        slug = slug[:17]
        if not slug.endswith("-"):
            slug += "-"
        return slug + _base36(int(hashlib.sha256(name.encode()).hexdigest(), 16))[-6:]
    return slug.rstrip("-")


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while number:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
    return text or "0"


def environment_tier(name: str, written: str = "") -> str:
    """``deployment_tier`` when written, else GitLab's guess from the name."""
    if written:
        return written
    for pattern, tier in _TIER_GUESSES:
        if pattern.search(name):
            return tier
    return "other"
