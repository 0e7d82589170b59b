"""``xxci report --local`` on a recorded log: every filter level, every usage error,
the JSON/YAML documents against the fold, and ``--at`` time travel."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.integration.reports.conftest import serve
from tests.integration.reports.recorder import BUILD, Recorder, run_cli
from xxci.common.events import run_stream
from xxci.orchestrator.domain.fold import replay
from xxci.orchestrator.domain.state import RunState
from xxci.orchestrator.store import EventStore
from xxci.orchestrator.views.report import run_report, summary_of


def rows(text: str) -> list[list[str]]:
    """The cells of an aligned table (columns are two or more spaces apart)."""
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.strip()]


async def report(*args: str) -> tuple[int, str, str]:
    result = await run_cli("report", "--local", *args)
    return result.exit_code, result.stdout, result.stderr


async def test_listing_shows_every_run_of_every_pipeline(history: dict[str, RunState]) -> None:
    code, out, err = await report()
    assert (code, err) == (0, "")
    table = rows(out)
    assert table[0] == [
        "PIPELINE", "RUN", "BRANCH", "COMMIT", "STATUS", "STARTED", "FINISHED", "DURATION"
    ]  # fmt: skip
    assert [r[:5] for r in table[1:]] == [
        ["build", "#1", "main", "c0ffeec0", "SUCCESS"],
        ["docs", "#1", "main", "c0ffeec0", "FAILED"],
        ["build", "#2", "dev", "d00dd00d", "SUCCESS"],
        ["build", "#3", "main", "c0ffeec0", "RUNNING"],
    ]
    assert len(table[4]) == 6, "a run in flight has no finish time or duration"
    assert "\x1b[" not in out, "piped output carries no terminal codes"


async def test_repo_narrows_the_listing(history: dict[str, RunState]) -> None:
    code, out, _ = await report("--repo", "site")
    assert code == 0
    assert [r[:2] for r in rows(out)[1:]] == [["docs", "#1"]]
    code, out, _ = await report("--repo", "nowhere")
    assert (code, out) == (0, "no runs\n")


async def test_repo_may_be_a_checkout_path(
    history: dict[str, RunState], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder without an origin is recorded by its name, as `xxci run` records it."""
    checkout = tmp_path / "elsewhere" / "site"
    checkout.mkdir(parents=True)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    code, out, _ = await report("--repo", str(checkout))
    assert code == 0
    assert [r[:2] for r in rows(out)[1:]] == [["docs", "#1"]]


async def test_pipeline_lists_its_runs_with_their_stages(history: dict[str, RunState]) -> None:
    code, out, _ = await report("--pipeline", "build")
    assert code == 0
    titles = [line for line in out.splitlines() if line.startswith("build #")]
    assert [t.split()[:3] for t in titles] == [
        ["build", "#1", "SUCCESS"],
        ["build", "#2", "SUCCESS"],
        ["build", "#3", "RUNNING"],
    ]
    first = out.split("\n\n")[0].splitlines()
    assert rows("\n".join(first[1:]))[0] == ["STAGE", "STATUS", "STARTED", "FINISHED", "DURATION"]
    assert [r[:2] for r in rows("\n".join(first[2:]))] == [
        ["compile", "SUCCESS"],
        ["test", "SUCCESS"],
        ["deploy", "SUCCESS"],
    ]
    code, out, _ = await report("--pipeline", "build", "--run", "3")
    assert code == 0
    assert out.startswith("build #3 RUNNING  branch main  commit c0ffeec0  started ")
    assert [r[:2] for r in rows(out)[2:]] == [
        ["compile", "RUNNING"],
        ["test", "PENDING"],
        ["deploy", "PENDING"],
    ]


async def test_stage_shows_its_jobs(history: dict[str, RunState]) -> None:
    code, out, _ = await report("--pipeline", "build", "--run", "1", "--stage", "test")
    assert code == 0
    lines = out.splitlines()
    assert lines[1].startswith("stage test SUCCESS  started ")
    table = rows("\n".join(lines[2:]))
    assert table[0] == [
        "JOB", "STATUS", "ALLOWED FAILURE", "REASON", "EXIT", "WORKER", "STARTED", "FINISHED",
        "DURATION",
    ]  # fmt: skip
    assert table[1][:3] == ["unit", "SUCCESS", "no"]
    assert table[1][3:5] == ["0", "w1"]
    assert table[2][:6] == ["lint", "FAILED", "yes", "script_failure", "1", "w1"]
    # Without --run: the stage of every run that has it.
    code, out, _ = await report("--pipeline", "build", "--stage", "deploy")
    assert code == 0
    assert out.count("stage deploy ") == 3


async def test_job_shows_attempts_and_commands(history: dict[str, RunState]) -> None:
    args = ("--pipeline", "build", "--run", "1", "--stage", "compile", "--job", "lib")
    code, out, _ = await report(*args)
    assert code == 0
    blocks = out.split("\n\n")
    assert blocks[0].splitlines()[2] == "job lib SUCCESS"
    facts = dict(rows(blocks[0])[3:])
    assert facts["allowed failure"] == "no"
    assert facts["exit code"] == "0"
    assert facts["worker"] == "w2"
    attempts = rows(blocks[1])
    assert attempts[0] == ["ATTEMPT", "STATUS", "REASON", "EXIT", "WORKER", "STARTED", "FINISHED"]
    assert [a[:4] for a in attempts[1:]] == [
        ["1", "FAILED", "worker_lost", "w1"],
        ["2", "SUCCESS", "0", "w2"],
    ]
    assert rows(blocks[2]) == [
        ["commands (attempt 2)"],
        ["STEP", "EXIT", "COMMAND"],
        ["0", "0", "make lib"],
        ["1", "0", "make check"],
    ]
    code, out, _ = await report("--pipeline", "build", "--stage", "test", "--job", "lint")
    assert code == 0
    runs = out.split("\n\nbuild #")
    assert len(runs) == 3
    assert rows(runs[0].split("commands (attempt 1)\n")[1]) == [
        ["STEP", "EXIT", "COMMAND"],
        ["0", "0", "ruff check"],
        ["1", "1", "ruff format"],
    ]
    assert rows(runs[2].split("\n\n")[-1])[2:] == [
        ["0", "not run", "ruff check"],
        ["1", "not run", "ruff format"],
    ]


USAGE = [
    (["--job", "lib"], "error: --job needs --stage\n"),
    (["--pipeline", "build", "--job", "lib"], "error: --job needs --stage\n"),
    (["--stage", "test"], "error: --stage needs --pipeline\n"),
    (["--run", "2"], "error: --run needs --pipeline\n"),
    (["--pipeline", "build", "--run", "two"], "error: --run takes a whole number, not 'two'\n"),
    (["--pipeline", "build", "--run", "0"], "error: --run takes a number of at least 1, not 0\n"),
    (["--at", "x"], "error: --at takes a whole number, not 'x'\n"),
    (["--last", "-3"], "error: --last takes a number of at least 1, not -3\n"),
]


@pytest.mark.parametrize(("args", "message"), USAGE)
async def test_usage_errors_name_the_missing_flag(
    home: Path, args: list[str], message: str
) -> None:
    # No log and no server are needed to reject a command line.
    result = await run_cli("report", *args)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", message)


NOT_FOUND = [
    (
        ["--pipeline", "nope"],
        "error: no runs of pipeline 'nope' (pipelines with runs: build, docs)\n",
    ),
    (["--pipeline", "build", "--run", "7"], "error: pipeline 'build' has no run #7\n"),
    (
        ["--pipeline", "docs", "--repo", "demo"],
        "error: no runs of pipeline 'docs' in repository 'demo' (pipelines with runs: build)\n",
    ),
    (
        ["--pipeline", "build", "--stage", "doc"],
        "error: pipeline 'build' has no stage 'doc' (stages: compile, test, deploy)\n",
    ),
    (
        ["--pipeline", "build", "--run", "2", "--stage", "test", "--job", "lib"],
        "error: stage 'test' of run #2 of pipeline 'build' has no job 'lib'"
        " (it is in stage 'compile')\n",
    ),
    (
        ["--pipeline", "build", "--stage", "test", "--job", "nope"],
        "error: stage 'test' of pipeline 'build' has no job 'nope' (jobs: unit, lint)\n",
    ),
]


@pytest.mark.parametrize(("args", "message"), NOT_FOUND)
async def test_unknown_things_are_named_plainly(
    history: dict[str, RunState], args: list[str], message: str
) -> None:
    code, out, err = await report(*args)
    assert (code, out, err) == (1, "", message)


async def test_no_local_log_and_no_server(home: Path) -> None:
    result = await run_cli("report", "--local")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: no local runs yet: {home / 'local.db'} does not exist"
        " (local runs: xxci run --local)\n"
    )
    result = await run_cli("report")
    assert (result.exit_code, result.stderr) == (
        2,
        "error: no orchestrator given: pass --server HOST:PORT, set XXCI_SERVER, or use --local\n",
    )


async def fold_of(home: Path, state: RunState, up_to_seq: int | None = None) -> RunState:
    async with await EventStore.open(home / "local.db") as store:
        return replay(await store.read_stream(run_stream(state.run_id), up_to_seq=up_to_seq))


async def test_json_of_one_run_is_its_fold(home: Path, history: dict[str, RunState]) -> None:
    for key, state in history.items():
        code, out, _ = await report(
            "--pipeline", state.pipeline.name, "--run", str(state.number), "--format", "json"
        )
        assert code == 0
        assert json.loads(out) == run_report(await fold_of(home, state)), key


async def test_json_levels_narrow_the_same_document(
    home: Path, history: dict[str, RunState]
) -> None:
    folds = {k: run_report(await fold_of(home, s)) for k, s in history.items()}
    _, out, _ = await report("--format", "json")
    doc = json.loads(out)
    assert (doc["report_version"], doc["level"], doc["at_seq"]) == (1, "runs", None)
    order = ["build#1", "docs#1", "build#2", "build#3"]
    assert doc["runs"] == [
        {field: value for field, value in folds[run].items() if field != "stages"} for run in order
    ]

    _, out, _ = await report("--pipeline", "build", "--format", "json")
    doc = json.loads(out)
    assert doc["level"] == "pipeline"
    assert doc["runs"] == [summary_of(folds[k]) for k in ("build#1", "build#2", "build#3")]

    args = ("--pipeline", "build", "--stage", "test", "--job", "lint", "--format", "json")
    _, out, _ = await report(*args)
    doc = json.loads(out)
    assert doc["level"] == "job"
    for run, key in zip(doc["runs"], ("build#1", "build#2", "build#3"), strict=True):
        test = next(s for s in folds[key]["stages"] if s["name"] == "test")
        lint = next(j for j in test["jobs"] if j["name"] == "lint")
        assert run == {**folds[key], "stages": [{**test, "jobs": [lint]}]}


async def test_yaml_is_the_same_document(history: dict[str, RunState]) -> None:
    for args in ([], ["--pipeline", "build"], ["--pipeline", "docs", "--run", "1"]):
        _, as_json, _ = await report(*args, "--format", "json")
        code, as_yaml, _ = await report(*args, "--format", "yaml")
        assert code == 0
        loaded: Any = YAML(typ="safe", pure=True).load(io.StringIO(as_yaml))
        assert loaded == json.loads(as_json)


async def test_last_keeps_the_newest_runs(history: dict[str, RunState]) -> None:
    _, out, _ = await report("--last", "2", "--format", "json")
    assert [(r["pipeline"], r["number"]) for r in json.loads(out)["runs"]] == [
        ("build", 2),
        ("build", 3),
    ]


async def test_at_replays_the_log_up_to_an_event(home: Path) -> None:
    async with Recorder(home) as r:
        run_id = (await r.submit(BUILD)).run_id
        await r.start(run_id, "lib")
        middle = (await r.state(run_id)).last_seq
        await r.finish(run_id, "lib", exit_code=3)
        later = (await r.submit(BUILD)).run_id
        await r.run(later, "lib")
    args = ("--pipeline", "build", "--run", "1", "--at", str(middle), "--format", "json")
    code, out, _ = await report(*args)
    assert code == 0
    doc = json.loads(out)
    async with await EventStore.open(home / "local.db") as store:
        expected = replay(await store.read_stream(run_stream(run_id), up_to_seq=middle))
        final = replay(await store.read_stream(run_stream(run_id)))
    assert doc == run_report(expected)
    assert (doc["status"], doc["last_seq"]) == ("RUNNING", middle)
    assert final.status.value == "FAILED"
    # The listing at that point: run #2 did not exist yet.
    _, out, _ = await report("--at", str(middle), "--format", "json")
    listing = json.loads(out)
    assert listing["at_seq"] == middle
    assert [(r["number"], r["status"]) for r in listing["runs"]] == [(1, "RUNNING")]
    code, _, err = await report("--pipeline", "build", "--run", "2", "--at", str(middle))
    assert (code, err) == (1, f"error: pipeline 'build' had no run #2 yet at event {middle}\n")
    # Text shows the same moment.
    _, out, _ = await report("--pipeline", "build", "--run", "1", "--at", str(middle))
    assert out.startswith("build #1 RUNNING")


async def test_branch_and_status_narrow_the_runs(history: dict[str, RunState]) -> None:
    _, out, _ = await report("--branch", "dev", "--format", "json")
    assert [(r["pipeline"], r["number"]) for r in json.loads(out)["runs"]] == [("build", 2)]
    _, out, _ = await report("--status", "failed", "--format", "json")
    assert [(r["pipeline"], r["number"]) for r in json.loads(out)["runs"]] == [("docs", 1)]
    args = ("--pipeline", "build", "--branch", "main", "--status", "RUNNING", "--format", "json")
    _, out, _ = await report(*args)
    doc = json.loads(out)
    assert (doc["level"], [r["number"] for r in doc["runs"]]) == ("pipeline", [3])
    code, out, _ = await report("--pipeline", "build", "--status", "CANCELED", "--format", "json")
    assert (code, json.loads(out)["runs"]) == (0, [])
    code, out, _ = await report("--pipeline", "build", "--status", "CANCELED")
    assert (code, out) == (0, "no runs\n")


async def test_a_run_outside_the_filters_is_named(history: dict[str, RunState]) -> None:
    code, _, err = await report("--pipeline", "build", "--run", "2", "--branch", "main")
    assert (code, err) == (1, "error: pipeline 'build' has no run #2 on branch 'main'\n")
    code, _, err = await report("--pipeline", "build", "--run", "1", "--status", "failed")
    assert (code, err) == (1, "error: pipeline 'build' has no run #1 with status FAILED\n")
    code, _, err = await report("--status", "broken")
    assert code == 2
    assert err == (
        "error: --status must be one of PENDING, RUNNING, SUCCESS, FAILED, CANCELED, not 'broken'\n"
    )


async def test_the_filters_cross_the_wire(home: Path, history: dict[str, RunState]) -> None:
    """A served log answers --branch and --status as the local one does."""
    _, local, _ = await report("--branch", "main", "--status", "success", "--format", "json")
    async with serve(home, local=True) as served:
        args = ("--branch", "main", "--status", "success", "--format", "json")
        result = await run_cli("report", *served.args, *args)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json.loads(local)
    assert [r["number"] for r in json.loads(local)["runs"]] == [1]
