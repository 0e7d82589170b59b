"""Cache keys as GitLab resolves them, and which results save a cache."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from xxci.common.spec.services_cache import Cache, CachePolicy, CacheWhen
from xxci.common.status import JobStatus
from xxci.worker.attempt.cache_keys import cache_keys, resolve_key
from xxci.worker.docker.cache_collection import saves


def archive(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_a_key_expands_variables_and_an_empty_one_is_default() -> None:
    env = {"CI_COMMIT_REF_SLUG": "main", "CI_JOB_NAME": "unit"}
    assert resolve_key(Cache(key="$CI_COMMIT_REF_SLUG-${CI_JOB_NAME}"), env, []) == "main-unit"
    assert resolve_key(Cache(key="$UNSET"), env, []) == "default"
    fallbacks = Cache(key="deps-$CI_COMMIT_REF_SLUG", fallback_keys=("deps-main", "deps"))
    assert cache_keys(fallbacks, env, []) == ("deps-main", "deps")


def test_a_files_key_digests_the_files_contents(tmp_path: Path) -> None:
    source = archive(tmp_path / "a.tar", {"package-lock.json": b"v1", "other": b"x"})
    changed = archive(tmp_path / "b.tar", {"package-lock.json": b"v2"})
    cache = Cache(key_files=("package-lock.json",), key_prefix="npm-$CI_JOB_NAME")
    first = resolve_key(cache, {"CI_JOB_NAME": "build"}, [source])
    assert first.startswith("npm-build-") and len(first) == len("npm-build-") + 40
    assert resolve_key(cache, {"CI_JOB_NAME": "build"}, [source]) == first
    assert resolve_key(cache, {"CI_JOB_NAME": "build"}, [source, changed]) != first
    assert resolve_key(Cache(key_files=("missing",)), {}, [source]) == "default"


def test_which_results_save_a_cache() -> None:
    default = Cache()
    assert saves(default, JobStatus.SUCCESS) and not saves(default, JobStatus.FAILED)
    assert not saves(Cache(policy=CachePolicy.PULL), JobStatus.SUCCESS)
    assert saves(Cache(policy=CachePolicy.PUSH), JobStatus.SUCCESS)
    on_failure = Cache(when=CacheWhen.ON_FAILURE)
    assert saves(on_failure, JobStatus.FAILED) and not saves(on_failure, JobStatus.SUCCESS)
    always = Cache(when=CacheWhen.ALWAYS)
    assert saves(always, JobStatus.FAILED) and not saves(always, JobStatus.CANCELED)
