"""The limits a pipeline file is read within: each exceeded is one error at its line,
and no shape of file costs more than a bounded amount of CPU time."""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from xxci.common.errors import SpecError, UsageError
from xxci.common.spec import load_pipeline_file, load_pipeline_text, parse_override
from xxci.common.spec.limits import SpecLimits, describe_size
from xxci.common.spec.scanner import LinearScanner

HEAD = "pipeline:\n  name: p\nstages: [build]\njobs:\n"


def job(i: int, needs: list[str] | None = None, extra: str = "") -> str:
    text = f"  - name: j{i}\n    stage: build\n    image: busybox\n    script: [echo]\n"
    if needs is not None:
        text += f"    needs: [{', '.join(needs)}]\n"
    return text + extra


DEFAULT = SpecLimits()


def errors(text: str, limits: SpecLimits = DEFAULT) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_pipeline_text(text, "p.yml", limits=limits)
    return [str(d) for d in caught.value.diagnostics]


def cpu_seconds(text: str) -> float:
    start = time.process_time()
    with contextlib.suppress(SpecError):
        load_pipeline_text(text, "p.yml")
    return time.process_time() - start


def test_a_file_over_the_size_limit_is_refused_at_the_line_the_limit_is_crossed() -> None:
    text = HEAD + job(0) + "# " + "x" * 98 + "\n" * 1 + ("# " + "y" * 97 + "\n") * 30
    limit = SpecLimits(max_bytes=len((HEAD + job(0)).encode()) + 250)
    assert errors(text, limit) == [
        f"p.yml:11:1: the file is {describe_size(len(text))}, over the limit of "
        f"{describe_size(limit.max_bytes)}; the limit is crossed on this line"
    ]


def test_a_file_on_disk_over_the_limit_is_not_read_past_it(tmp_path: Path) -> None:
    path = tmp_path / "big.yml"
    path.write_text(HEAD + job(0) + "# " + "z" * (3 * 1024 * 1024) + "\n")
    with pytest.raises(SpecError) as caught:
        load_pipeline_file(path, display_name="big.yml")
    assert [str(d) for d in caught.value.diagnostics] == [
        "big.yml:9:1: the file is 3 MiB, over the limit of 2 MiB; the limit is crossed on this line"
    ]


def test_sizes_are_told_in_binary_units() -> None:
    assert [describe_size(n) for n in (300, 2048, 2 * 1024**2, 2_120_000, 3 * 1024**3)] == [
        "300 bytes",
        "2 KiB",
        "2 MiB",
        "2.02 MiB",
        "3 GiB",
    ]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a: " + "[" * 1_000_000, "1:154"),
        ("a: " + "{b: " * 1000, "1:597"),
        ("a:\n" + "".join("  " * i + "- \n" for i in range(1, 400)), "151:301"),
    ],
    ids=["flow lists", "flow mappings", "block lists"],
)
def test_nesting_deeper_than_the_limit_stops_reading_at_once(text: str, where: str) -> None:
    assert errors(text) == [
        f"p.yml:{where}: the file nests mappings and lists more than 150 deep, the limit"
    ]
    assert cpu_seconds(text) < 1.0


def test_nesting_up_to_the_limit_is_fine() -> None:
    text = HEAD + job(0) + "    variables: {A: " + "[" * 140 + "]" * 140 + "}\n"
    assert "150 deep" not in "\n".join(errors(text))


def test_more_jobs_than_the_limit_is_one_error_at_the_first_job_too_many() -> None:
    text = HEAD + "".join(job(i) for i in range(6))
    assert errors(text, SpecLimits(max_jobs=5)) == [
        "p.yml:25:5: more than 5 jobs in the run, the limit; "
        "this job and those after it are not read"
    ]


def test_parallel_jobs_count_towards_the_limit() -> None:
    text = HEAD + job(0, extra="    parallel: 3\n") + job(1, extra="    parallel: 3\n")
    assert errors(text, SpecLimits(max_jobs=5)) == [
        "p.yml:10:5: more than 5 jobs in the run, the limit; "
        "this job and those after it are not read"
    ]


def test_a_job_needing_more_than_the_limit_is_one_error_at_the_need_too_many() -> None:
    needs = [f"j{i}" for i in range(4)]
    text = HEAD + "".join(job(i) for i in range(4)) + job(9, needs=None)
    text += "    needs:\n" + "".join(f"      - {n}\n" for n in needs)
    assert errors(text, SpecLimits(max_needs=3)) == [
        "p.yml:29:9: job 'j9' needs more than 3 jobs, the limit"
    ]


def test_many_needs_cycles_are_reported_ten_at_most_and_fast() -> None:
    text = HEAD + "".join(job(i, [f"j{i ^ 1}"]) for i in range(400))
    start = time.process_time()
    found = errors(text)
    assert time.process_time() - start < 5.0
    assert len(found) == 10
    assert found[0] == "p.yml:9:13: cycle in needs: j0 -> j1 -> j0"


def test_the_cpu_time_cap_ends_a_slow_file_with_one_line() -> None:
    text = HEAD + job(0, extra="    tags: [" + "x, " * 200_000 + "x]\n")
    start = time.process_time()
    assert errors(text, SpecLimits(cpu_seconds=0.3)) == [
        "p.yml:1:1: reading the file took more than 0.3 s of CPU time, the limit; "
        "it is too large or too intricate"
    ]
    assert time.process_time() - start < 2.0


@pytest.mark.parametrize(
    "comment_at",
    ["after a value", "as a block after a value", "in a block scalar header", "at the end"],
)
def test_a_two_megabyte_comment_costs_a_fraction_of_a_second(comment_at: str) -> None:
    long = "c" * (2 * 1024 * 1024 - 400)
    line = "# " + "c" * 70 + "\n"
    text = {
        "after a value": HEAD + job(0).replace("image: busybox", f"image: busybox # {long}"),
        "as a block after a value": HEAD + job(0) + line * ((2 * 1024 * 1024 - 400) // 73),
        "in a block scalar header": HEAD
        + job(0)
        + f"    variables:\n      A: | # {long}\n        x\n",
        "at the end": HEAD + job(0) + f"# {long}\n",
    }[comment_at]
    assert len(text.encode()) <= 2 * 1024 * 1024
    load_pipeline_text(text, "p.yml")
    assert cpu_seconds(text) < 1.5


SAMPLES = [
    "a: 1 # c\r\nb: |  # hdr\n  x\n# end",
    "k: v #c\x85",
    "x: [a, # c\n b]\n\n\n# t\n",
    "s: >- # hi\n  text\n  # not\n",
    "a: 1\n# c1\n# c2\n  # c3\nb: 2\n",
    "a:\n  - x\n  # one\n  # two\n  - y # t\n  # u\n",
    "a: [1, 2] # x\n# y\n\n# z\nb: {c: d} # e\n   # f\n",
    "a: 'q' # 1\n    # 2\n# 3\n",
    "- a # 1\n# 2\n- b\n",
    "\ufeff# bom\nk: v # \ufeff\n",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_the_linear_scanner_reads_what_ruamel_reads(text: str) -> None:
    def load(scanner: type | None) -> tuple[str, str]:
        yaml = YAML(typ="rt", pure=True)
        if scanner is not None:
            yaml.Scanner = scanner
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = yaml.load(text)
        out = io.StringIO()
        yaml.dump(data, out)
        return repr(data.lc.data) + repr(data.ca), out.getvalue()

    assert load(LinearScanner) == load(None)


def test_text_that_is_not_unicode_or_holds_nul_is_an_error_where_it_is() -> None:
    text = (
        HEAD
        + '  - name: "\\ud83d\\udca5"\n    stage: build\n    image: busybox\n'
        + '    script: ["echo a\\0b"]\n    variables: {"K\\0": v}\n'
    )
    assert errors(text) == [
        "p.yml:5:11: '\\ud83d\\udca5' is not valid Unicode: it holds \\ud83d, half of a "
        "character (a lone surrogate)",
        "p.yml:8:14: 'echo a\\x00b' holds a NUL character, which no name or value may hold",
        "p.yml:9:17: 'K\\x00' holds a NUL character, which no name or value may hold",
        "p.yml:9:17: invalid variable name 'K\\x00' in job '\\ud83d\\udca5'; use letters, "
        "digits and '_', not starting with a digit",
    ]


def test_an_override_that_is_not_unicode_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        parse_override("default.image=bad\udcff")
    assert str(caught.value) == (
        "invalid --override 'default.image=bad\\udcff': it is not valid text "
        "(it holds \\udcff, a byte that is not UTF-8)"
    )
