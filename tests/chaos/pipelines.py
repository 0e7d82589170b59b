"""The pipelines the chaos test runs, and what each job's script dictates. Pure.

Four kinds, each a few seconds of work in the busybox test image, with artifacts
passed along (so a job that got the wrong artifacts, or none, fails its check):

- ``ok``: build writes ``out/value.txt``; test (needs build) checks it; deploy (later
  stage, all earlier artifacts) checks it is there. Everything succeeds.
- ``fail``: as ok, but test exits 3: test FAILED, deploy SKIPPED, the run FAILED.
- ``allowed``: as ok, plus lint (allow_failure) exiting 1: lint FAILED but allowed,
  the run succeeds.
- ``chain``: a -> b -> c by ``needs``, each checking and extending ``out/chain``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["IMAGE", "KINDS", "ChaosPipeline", "Expected", "make_pipeline"]

IMAGE = "xxci-test/busybox:latest"
KINDS = ("ok", "fail", "allowed", "chain")


@dataclass(frozen=True)
class Expected:
    """A job's final status, and whether its failure is allowed."""

    status: str
    allowed: bool = False


@dataclass(frozen=True)
class ChaosPipeline:
    name: str
    kind: str
    yaml: str
    jobs: dict[str, Expected]
    run_status: str


def make_pipeline(index: int, rng: random.Random, kind: str | None = None) -> ChaosPipeline:
    """Pipeline ``index`` (its kind by turns unless given), jobs sleeping 0.5-2.5 s."""
    kind = kind or KINDS[index % len(KINDS)]
    name = f"chaos-{kind}-{index}"
    value = f"value-{index}"

    def nap() -> str:
        return f"sleep {rng.choice((0.5, 1, 1.5, 2, 2.5))}"

    head = f"pipeline: {{name: {name}}}\nstages: [build, test, deploy]\n"
    head += f"default: {{image: {IMAGE}}}\njobs:\n"
    if kind == "chain":
        jobs = [
            _job("a", "build", [nap(), "mkdir -p out", "echo a > out/chain"], out=True),
            _job(
                "b",
                "test",
                [nap(), 'test "$(cat out/chain)" = a', "echo ab > out/chain"],
                needs=["a"],
                out=True,
            ),
            _job("c", "deploy", [nap(), 'test "$(cat out/chain)" = ab'], needs=["b"]),
        ]
        expected = {n: Expected("SUCCESS") for n in "abc"}
        return ChaosPipeline(name, kind, head + "".join(jobs), expected, "SUCCESS")
    test_script = [nap(), f"grep -qx {value} out/value.txt"]
    if kind == "fail":
        test_script.append("exit 3")
    jobs = [
        _job("build", "build", [nap(), "mkdir -p out", f"echo {value} > out/value.txt"], out=True),
        _job("test", "test", test_script, needs=["build"]),
        _job("deploy", "deploy", [nap(), "test -f out/value.txt"]),
    ]
    expected = {"build": Expected("SUCCESS"), "test": Expected("SUCCESS")}
    expected["deploy"] = Expected("SUCCESS")
    run_status = "SUCCESS"
    if kind == "fail":
        expected["test"] = Expected("FAILED")
        expected["deploy"] = Expected("SKIPPED")
        run_status = "FAILED"
    if kind == "allowed":
        jobs.append(_job("lint", "test", [nap(), "exit 1"], allow_failure=True))
        expected["lint"] = Expected("FAILED", allowed=True)
    return ChaosPipeline(name, kind, head + "".join(jobs), expected, run_status)


def _job(
    name: str,
    stage: str,
    script: list[str],
    *,
    needs: list[str] | None = None,
    out: bool = False,
    allow_failure: bool = False,
) -> str:
    lines = [f"  - name: {name}\n", f"    stage: {stage}\n"]
    if needs is not None:
        lines.append(f"    needs: [{', '.join(needs)}]\n")
    if allow_failure:
        lines.append("    allow_failure: true\n")
    if out:
        lines.append("    artifacts: {paths: [out/]}\n")
    quoted = ", ".join("'" + line.replace("'", "''") + "'" for line in script)
    lines.append(f"    script: [{quoted}]\n")
    return "".join(lines)
