"""``xxci secret`` and ``xxci cache`` through the CLI runner, on the real local
orchestrator of a temporary ``$XXCI_HOME`` (no worker, so no Docker): exit codes and
the exact lines a user reads."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from asyncclick.testing import CliRunner, Result

from tests.fakes.clock import FakeClock
from xxci.cli.main import cli
from xxci.orchestrator.runtime.job_caches import JobCaches
from xxci.orchestrator.store import BlobStore
from xxci.orchestrator.store.cache_index import CacheIndex


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XXCI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XXCI_SERVER", raising=False)
    return tmp_path / "home"


async def xxci(args: Sequence[str], stdin: str | None = None) -> Result:
    return await CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


async def test_a_secret_is_set_listed_and_removed_never_shown(home: Path) -> None:
    value = "hunter2-but-longer"
    done = await xxci(["secret", "set", "--local", "DEPLOY_TOKEN"], stdin=value + "\n")
    assert (done.exit_code, done.stdout) == (
        0,
        "secret DEPLOY_TOKEN set for every pipeline (18 bytes)\n",
    )
    scoped = await xxci(
        ["secret", "set", "--local", "DEPLOY_TOKEN", "--pipeline", "app"], stdin="abcd"
    )
    assert scoped.stdout == "secret DEPLOY_TOKEN set for pipeline app (4 bytes)\n"
    listed = await xxci(["secret", "ls", "--local"])
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["NAME", "PIPELINE", "BYTES", "SET"]
    assert [line.split()[:3] for line in lines[1:]] == [
        ["DEPLOY_TOKEN", "(every)", "18"],
        ["DEPLOY_TOKEN", "app", "4"],
    ]
    assert value not in listed.stdout
    gone = await xxci(["secret", "rm", "--local", "DEPLOY_TOKEN", "--pipeline", "app"])
    assert gone.stdout == "secret DEPLOY_TOKEN removed for pipeline app\n"
    again = await xxci(["secret", "rm", "--local", "DEPLOY_TOKEN", "--pipeline", "app"])
    assert again.exit_code == 1
    assert again.stderr == "error: no secret DEPLOY_TOKEN for pipeline app\n"
    assert os.stat(home / "secrets.db").st_mode & 0o777 == 0o600


async def test_bad_secrets_are_one_line_errors(home: Path) -> None:
    bad_name = await xxci(["secret", "set", "--local", "1-TOKEN"], stdin="long enough")
    assert bad_name.exit_code != 0
    assert bad_name.stderr == (
        "error: invalid secret name '1-TOKEN': letters, digits and _, not first a digit\n"
    )
    short = await xxci(["secret", "set", "--local", "PIN"], stdin="123\n")
    assert short.stderr == (
        "error: a secret's value must be 4 bytes to 1 MiB long (so it can be masked);"
        " this one has 3\n"
    )
    empty = await xxci(["secret", "set", "--local", "PIN"], stdin="")
    assert (empty.exit_code, empty.stderr) == (
        2,
        "error: no value given for secret PIN (standard input was empty)\n",
    )


async def test_caches_are_listed_with_their_size_and_removed(home: Path) -> None:
    assert (await xxci(["cache", "ls", "--local"])).stdout == "no caches\n"
    clock = FakeClock()
    blobs = BlobStore(home / "cache-blobs")
    caches = JobCaches(await CacheIndex.open(home / "caches.db"), blobs, 1 << 30, clock)
    try:
        ref = await blobs.put_bytes(b"x" * 3000)
        await caches.save("app", "deps-main", ref.digest)
        await caches.save("web", "node", ref.digest)
    finally:
        await caches.close()
    listed = await xxci(["cache", "ls", "--local", "--pipeline", "app"])
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["PIPELINE", "KEY", "SIZE", "SAVED", "LAST", "USED"]
    assert lines[1].split()[:4] == ["app", "deps-main", "2.9", "KiB"]
    assert lines[-1] == "1 cache entry, 2.9 KiB"
    usage = await xxci(["cache", "rm", "--local"])
    assert (usage.exit_code, usage.stderr) == (
        2,
        "error: name the caches to remove: --pipeline P [KEY], or --all\n",
    )
    missing = await xxci(["cache", "rm", "--local", "--pipeline", "app", "nope"])
    assert (missing.exit_code, missing.stderr) == (1, "error: no cache 'nope' for pipeline app\n")
    one = await xxci(["cache", "rm", "--local", "--pipeline", "app", "deps-main"])
    assert one.stdout == "removed 1 cache entry\n"
    rest = await xxci(["cache", "rm", "--local", "--all"])
    assert rest.stdout == "removed 1 cache entry\n"
    assert not blobs.exists(ref.digest)
