"""A job's cache keys, resolved on the worker as GitLab resolves them. Pure but for
reading the workspace archives it is given.

``key: text`` has its ``$VAR`` expanded against the job's variables; a key left empty
is ``default``. ``key: {files, prefix}`` is the prefix (expanded), ``-``, and a digest
of the contents of those files as the job's workspace has them (the source tree, then
the artifacts over it); with none of the files present the digest part is
``default``, as in GitLab. ``fallback_keys`` are expanded like a key.
"""

from __future__ import annotations

import fnmatch
import hashlib
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from xxci.common.spec.services_cache import Cache
from xxci.common.spec.variables import expand

__all__ = ["cache_keys", "files_digest", "resolve_key"]


def _clean(key: str) -> str:
    key = key.strip()
    return key or "default"


def files_digest(archives: Sequence[Path], patterns: Sequence[str]) -> str | None:
    """A digest of the files ``patterns`` name (paths or globs relative to the
    workspace) as ``archives`` (tar files unpacked in order) leave them; None if none."""
    wanted = [p.strip().lstrip("./") if p.startswith("./") else p.strip() for p in patterns]
    contents: dict[str, bytes] = {}
    for archive in archives:
        with tarfile.open(archive) as tar:
            for member in tar:
                name = member.name.removeprefix("./").strip("/")
                if not member.isfile() or not any(fnmatch.fnmatchcase(name, w) for w in wanted):
                    continue
                stream = tar.extractfile(member)
                if stream is not None:
                    contents[name] = hashlib.sha256(stream.read()).digest()
    if not contents:
        return None
    digest = hashlib.sha256()
    for name in sorted(contents):
        digest.update(name.encode() + b"\0" + contents[name])
    return digest.hexdigest()[:40]


def resolve_key(cache: Cache, variables: Mapping[str, str], archives: Sequence[Path]) -> str:
    """The key ``cache`` is saved under for a job with ``variables`` and workspace
    ``archives``."""
    if not cache.key_files:
        return _clean(expand(cache.key, variables))
    digest = files_digest(archives, cache.key_files) or "default"
    prefix = expand(cache.key_prefix, variables).strip()
    return f"{prefix}-{digest}" if prefix else digest


def cache_keys(
    cache: Cache, variables: Mapping[str, str], archives: Sequence[Path]
) -> tuple[str, ...]:
    """The key, then the fallback keys, in the order they are tried; no repeats."""
    keys = [resolve_key(cache, variables, archives)]
    keys += [_clean(expand(k, variables)) for k in cache.fallback_keys]
    return tuple(dict.fromkeys(keys))
