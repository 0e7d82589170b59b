"""``xxci store migrate``: a recorded SQLite history copied into PostgreSQL, verified on
both sides, and served from there."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from tests.integration.reports.recorder import record_history, run_cli
from xxci.common.api import ReportQuery
from xxci.orchestrator.domain.identity import IdentityRecord
from xxci.orchestrator.store import BlobStore, WorkerIdentityStore
from xxci.orchestrator.store.backends import open_storage
from xxci.orchestrator.views.queries import query_report


async def test_migrate_copies_everything_and_both_sides_verify(
    tmp_path: Path, postgres_url: str
) -> None:
    home = tmp_path / "home"
    runs = await record_history(home)
    blob = await BlobStore(home / "blobs").put_bytes(b"a source tree")
    registered = IdentityRecord("w1", "box", "sha256:" + "ab" * 32, datetime.now(UTC))
    async with await WorkerIdentityStore.open(home / "local.db") as identities:
        await identities.add(registered)

    result = await run_cli("store", "migrate", "--from", str(home), "--to", postgres_url)

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert re.fullmatch(
        r"copied \d+ events, 4 runs, \d+ log chunks, \d+ cached reports?, 1 registered worker"
        r" and 1 blob to"
        r" postgresql://127\.0\.0\.1:\d+/\w+",
        lines[0],
    ), lines
    heads = [re.search(r"head (\d+:[0-9a-f]{64})$", line) for line in lines[1:3]]
    assert lines[1].startswith(f"verify {home}: 4 runs, hash chain intact over ")
    assert lines[2].startswith("verify postgresql://")
    assert heads[0] and heads[1] and heads[0].group(1) == heads[1].group(1)

    storage = await open_storage(postgres_url, tmp_path)
    try:
        assert await storage.blobs.stat(blob.digest) == blob
        assert await storage.identities.all() == [registered]  # its credential still holds
        report = await query_report(storage.events, storage.reports, ReportQuery())
        assert {r["run_id"] for r in report["runs"]} == {s.run_id for s in runs.values()}
        build1 = runs["build#1"].run_id
        chunks = await storage.logs.read(build1, "unit", 1)
        assert b"".join(c.data for c in chunks) == b"$ make unit\nran 3 tests\nwarning: slow\nOK\n"
        live = [row.run_id for row in await storage.events.live_runs()]
        assert live == [s.run_id for s in runs.values() if not s.status.finished]
    finally:
        await storage.close()

    again = await run_cli("store", "migrate", "--from", str(home), "--to", postgres_url)
    assert again.exit_code == 1
    assert re.search(r"already holds \d+ events: migrate into an empty database", again.output)


async def test_migrate_without_a_log_says_so(tmp_path: Path, postgres_url: str) -> None:
    result = await run_cli("store", "migrate", "--from", str(tmp_path), "--to", postgres_url)
    assert result.exit_code != 0
    assert f"no event log in {tmp_path} (no events.db, no local.db)" in result.output


async def test_migrate_refuses_a_target_that_is_not_postgresql(tmp_path: Path) -> None:
    result = await run_cli("store", "migrate", "--from", str(tmp_path), "--to", "mysql://x/y")
    assert result.exit_code == 2
    assert "--store 'mysql://x/y': expected postgresql://" in result.output
