"""Derived data against the log: local report files, the run index, the report cache,
and ``xxci verify`` finding each kind of disagreement."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.integration.reports.conftest import serve
from tests.integration.reports.recorder import run_cli
from xxci.common.events import CancelRequested, run_stream
from xxci.orchestrator.domain.state import RunState
from xxci.orchestrator.store import EventStore, ReportCache
from xxci.orchestrator.views.report import run_report


async def event_count(home: Path) -> int:
    async with await EventStore.open(home / "local.db") as store:
        return len(await store.read_all())


async def test_report_files_are_the_json_report_byte_for_byte(
    home: Path, history: dict[str, RunState]
) -> None:
    finished = [s for s in history.values() if s.finished]
    assert len(finished) == 3
    for state in finished:
        path = home / "reports" / state.pipeline.name / f"{state.number}.json"
        result = await run_cli(
            "report", "--local", "--pipeline", state.pipeline.name, "--run", str(state.number),
            "--format", "json",
        )  # fmt: skip
        assert result.exit_code == 0
        assert result.stdout == path.read_text(encoding="utf-8")
    assert not (home / "reports" / "build" / "3.json").exists(), "run #3 has not finished"


async def test_verify_passes_on_a_clean_log(home: Path, history: dict[str, RunState]) -> None:
    await run_cli("report", "--local")  # fills the report cache: verify checks it too
    result = await run_cli("verify", "--local")
    events = await event_count(home)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        f"verified 4 runs, {events} events: all derived data agrees with the log\n"
        f"hash chain: intact over {events} events\n"
    )


async def test_verify_anchor_prints_the_head_then_proves_the_log_unchanged(
    home: Path, history: dict[str, RunState]
) -> None:
    events = await event_count(home)
    printed = await run_cli("verify", "--local", "--anchor")
    assert printed.exit_code == 0
    *_, anchor_line = printed.stdout.splitlines()
    with sqlite3.connect(home / "local.db") as db:
        (head,) = db.execute("SELECT hash FROM events WHERE seq = ?", (events,)).fetchone()
    assert anchor_line == f"anchor: {events}:{head}"
    anchor = anchor_line.removeprefix("anchor: ")

    held = await run_cli("verify", "--local", "--anchor", anchor)
    assert held.exit_code == 0
    assert held.stdout.splitlines()[-1] == (
        f"anchor {anchor}: holds (events up to {events} are as they were when it was taken)"
    )

    build2 = history["build#2"].run_id
    with sqlite3.connect(home / "local.db") as db:  # edit one event of build #2
        (seq, version) = db.execute(
            "SELECT seq, version FROM events WHERE stream = ? AND type = 'JobFinished'",
            (run_stream(build2),),
        ).fetchone()
        db.execute(
            "UPDATE events SET data = replace(data, 'SUCCESS', 'FAILED') WHERE seq = ?", (seq,)
        )
    tampered = await run_cli("verify", "--local", "--anchor", anchor)
    assert tampered.exit_code == 1
    lines = tampered.stdout.splitlines()
    assert lines[0] == (
        f"hash chain: event {seq} (run:{build2} v{version} JobFinished) was edited:"
        " its content no longer matches its hash"
    )
    assert lines[1] == f"anchor {anchor}: not checked, the chain breaks before event {events}"


async def test_verify_refuses_a_malformed_anchor_in_one_line(
    home: Path, history: dict[str, RunState]
) -> None:
    result = await run_cli("verify", "--local", "--anchor", "12:nothex")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --anchor: not an anchor: '12:nothex'"
        " (expected SEQ:HASH, as `xxci verify --anchor` prints)\n"
    )


async def test_verify_names_a_tampered_field_of_a_report_file(
    home: Path, history: dict[str, RunState]
) -> None:
    path = home / "reports" / "docs" / "1.json"
    doc = json.loads(path.read_text())
    doc["status"] = "SUCCESS"
    doc["stages"][0]["jobs"][0]["exit_code"] = 0
    path.write_text(json.dumps(doc))
    result = await run_cli("verify", "--local")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{path}: stages[0].jobs[0].exit_code: file has 0, the log says 2",
        f"{path}: status: file has 'SUCCESS', the log says 'FAILED'",
    ]
    events = await event_count(home)
    assert result.stderr == (
        "verify: 2 differences between the log and the data derived from it"
        f" (4 runs, {events} events checked)\n"
    )


async def test_verify_finds_missing_stray_and_broken_files(
    home: Path, history: dict[str, RunState]
) -> None:
    reports = home / "reports"
    (reports / "build" / "2.json").unlink()
    (reports / "build" / "9.json").write_text("{}")
    (reports / "docs" / "1.json").write_text("{not json")
    result = await run_cli("verify", "--local")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert f"{reports}/build/2.json: missing (run build #2 finished SUCCESS)" in lines
    assert f"{reports}/build/9.json: the log has no run build #9" in lines
    assert any(line.startswith(f"{reports}/docs/1.json: not valid JSON (") for line in lines)
    assert len(lines) == 3


async def test_verify_checks_the_run_index_and_the_cache(
    home: Path, history: dict[str, RunState]
) -> None:
    await run_cli("report", "--local", "--pipeline", "build", "--run", "2")  # caches build #2
    build2 = history["build#2"].run_id
    with sqlite3.connect(home / "local.db") as db:
        db.execute("UPDATE runs SET branch = 'main' WHERE run_id = ?", (build2,))
        db.execute("UPDATE runs SET finished_seq = NULL WHERE run_id = ?", (build2,))
        (finished_seq,) = db.execute(
            "SELECT seq FROM events WHERE stream = ? AND type = 'RunFinished'",
            (run_stream(build2),),
        ).fetchone()
        db.execute(
            "UPDATE report_cache SET summary = replace(summary, 'SUCCESS', 'FAILED')"
            " WHERE run_id = ?",
            (build2,),
        )
    result = await run_cli("verify", "--local")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert f"runs index, run {build2}: branch is 'main', its RunCreated says 'dev'" in lines
    assert (
        f"runs index, run {build2}: finished_seq is None, its RunFinished says {finished_seq}"
    ) in lines
    cache = [line for line in lines if line.startswith("report cache")]
    assert cache, lines
    prefix = f"report cache, run {build2} (build #2) summary: "
    assert all(line.startswith(prefix) for line in cache)
    assert f"{prefix}status: cache has 'FAILED', the log says 'SUCCESS'" in cache


async def test_a_cached_report_is_not_used_once_its_stream_moved(
    home: Path, history: dict[str, RunState]
) -> None:
    args = ("report", "--local", "--pipeline", "docs", "--run", "1", "--format", "json")
    first = json.loads((await run_cli(*args)).stdout)  # now cached
    async with await EventStore.open(home / "local.db") as store:
        stream = run_stream(history["docs#1"].run_id)
        version = await store.stream_version(stream)
        [late] = await store.append(stream, version, [CancelRequested(reason="too late")])
    second = json.loads((await run_cli(*args)).stdout)
    assert second["last_seq"] == late.seq != first["last_seq"]
    assert {k: v for k, v in second.items() if k != "last_seq"} == {
        k: v for k, v in first.items() if k != "last_seq"
    }, "an event after RunFinished changes nothing but the position"
    # The local file was written at RunFinished: verify says it is behind the log.
    result = await run_cli("verify", "--local")
    path = home / "reports" / "docs" / "1.json"
    assert result.stdout.splitlines() == [
        f"{path}: last_seq: file has {first['last_seq']}, the log says {late.seq}"
    ]


async def test_remote_answers_equal_local_ones(home: Path, history: dict[str, RunState]) -> None:
    """The same log served by an orchestrator answers exactly as --local reads it."""
    queries = [
        [],
        ["--repo", "demo", "--format", "json"],
        ["--pipeline", "build", "--format", "yaml"],
        ["--pipeline", "build", "--run", "1", "--format", "json"],
        ["--pipeline", "build", "--stage", "test", "--job", "lint"],
        ["--pipeline", "build", "--run", "1", "--at", "5", "--format", "json"],
        ["--pipeline", "nope"],
    ]
    local = [await run_cli("report", "--local", *q) for q in queries]
    async with serve(home, local=True) as served:
        remote = [await run_cli("report", *served.args, *q) for q in queries]
        verified = await run_cli("verify", *served.args)
        status = await run_cli("status", *served.args, "--format", "json")
        printed = await run_cli("verify", *served.args, "--anchor")
        anchor = printed.stdout.splitlines()[-1].removeprefix("anchor: ")
        held = await run_cli("verify", *served.args, "--anchor", anchor)
        wrong = await run_cli("verify", *served.args, "--anchor", f"1:{'0' * 64}")
    for q, mine, theirs in zip(queries, local, remote, strict=True):
        assert (theirs.exit_code, theirs.stdout, theirs.stderr) == (
            mine.exit_code,
            mine.stdout,
            mine.stderr,
        ), q
    events = await event_count(home)
    assert verified.stdout.startswith("verified 4 runs, ")
    assert verified.exit_code == 0
    assert int(verified.stdout.split()[3]) >= events
    assert (held.exit_code, held.stdout.splitlines()[-1]) == (
        0,
        f"anchor {anchor}: holds (events up to {anchor.split(':')[0]} are as they were"
        " when it was taken)",
    )
    assert wrong.exit_code == 1
    assert wrong.stdout.startswith(f"anchor 1:{'0' * 64}: event 1 now has hash ")
    doc = json.loads(status.stdout)
    assert [(r["pipeline"], r["number"]) for r in doc["runs"]] == [("build", 3)]


async def test_runs_are_cached_as_they_finish(home: Path, history: dict[str, RunState]) -> None:
    """The orchestrator caches each report at RunFinished: no query replays them."""
    async with await ReportCache.open(home / "local.db") as cache:
        entries = await cache.entries()
    finished = {s.run_id: s for s in history.values() if s.finished}
    assert set(entries) == set(finished)
    for run_id, entry in entries.items():
        assert json.loads(entry.report) == run_report(finished[run_id])
        assert entry.version == finished[run_id].version
