"""Hostile pipeline files, generated: whatever the shape, loading ends in a Pipeline or
in errors of one printable line each, within a bounded CPU time and memory.

The shapes are those of an attack on a server that reads every file it is sent:
giant comments and scalars, deep nesting, large ``needs`` graphs with cycles, text
that is not Unicode or holds NUL or terminal control characters, and junk.
"""

from __future__ import annotations

import time
import tracemalloc

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xxci.common.errors import SpecError
from xxci.common.printable import printable
from xxci.common.spec import Pipeline, load_pipeline_text
from xxci.common.spec.limits import SpecLimits

LIMITS = SpecLimits(cpu_seconds=3.0)
CPU_BOUND = LIMITS.cpu_seconds + 2.0
"""What one file may cost: the cap, plus what runs after the timer stops."""
MEMORY_BOUND = 400 * 1024 * 1024
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HEAVY = settings(FUZZ, max_examples=12)
"""For shapes whose every example costs up to the CPU cap."""

HEAD = "pipeline:\n  name: fuzz\nstages: [build, test]\njobs:\n"


def job(name: str, needs: list[str] | None = None, image: str = "busybox") -> str:
    text = f"  - name: {name}\n    stage: build\n    image: {image}\n    script: [echo]\n"
    if needs is not None:
        text += f"    needs: [{', '.join(needs)}]\n"
    return text


def check_outcome(text: str) -> None:
    """Load ``text``: a Pipeline, or one-line printable errors; CPU time bounded."""
    start = time.process_time()
    try:
        result = load_pipeline_text(text, "fuzz.yml", limits=LIMITS)
    except SpecError as error:
        assert error.diagnostics
        for diagnostic in error.diagnostics:
            line = str(diagnostic)
            assert "\n" not in line and "\r" not in line, line
            assert printable(line) == line, repr(line)  # nothing a terminal obeys
            line.encode("utf-8")  # no lone surrogate reaches a message
    else:
        assert isinstance(result, Pipeline)
        for each in result.jobs:
            each.name.encode("utf-8")
            assert "\0" not in each.name
    spent = time.process_time() - start
    assert spent < CPU_BOUND, f"{spent:.1f} s of CPU"


ESCAPES = st.sampled_from(
    ["\\ud83d", "\\udca5", "\\0", "\\x1b[2J", "\\x07", "\\u202e", "\\r", "\\x85", "\\t"]
)
PLAIN = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)


@st.composite
def quoted_text(draw: st.DrawFn) -> str:
    """A double-quoted YAML scalar mixing plain text with hostile escapes."""
    parts = draw(st.lists(st.one_of(PLAIN.map(_escape_quoted), ESCAPES), max_size=6))
    return '"' + "".join(parts) + '"'


def _escape_quoted(text: str) -> str:
    return "".join(
        f"\\x{ord(ch):02x}" if ch in '"\\' or not ch.isprintable() else ch for ch in text
    )


@FUZZ
@given(name=quoted_text(), value=quoted_text(), key=quoted_text(), image=quoted_text())
def test_hostile_text_in_names_and_values(name: str, value: str, key: str, image: str) -> None:
    text = (
        HEAD
        + f"  - name: {name}\n    stage: build\n    image: {image}\n"
        + f"    script: [{value}]\n    variables: {{{key}: {value}}}\n"
        + f"    artifacts: {{paths: [{value}]}}\n"
    )
    check_outcome(text)


@FUZZ
@given(
    size=st.integers(1, 2 * 1024 * 1024),
    where=st.sampled_from(["after a value", "own line", "block", "in a list", "header"]),
    char=st.sampled_from(["a", "é", "#", " ", "\t", "💥"]),
)
def test_giant_comments(size: int, where: str, char: str) -> None:
    body = (char * (size // len(char.encode())))[: 2 * 1024 * 1024 // 4]
    text = {
        "after a value": HEAD + job("a").replace("busybox", f"busybox # {body}"),
        "own line": HEAD + f"# {body}\n" + job("a"),
        "block": HEAD + job("a") + ("# " + body[:60] + "\n") * max(1, size // 64),
        "in a list": HEAD
        + f"  - name: a\n    stage: build\n    image: x\n    script: [a, # {body}\n      b]\n",
        "header": HEAD + job("a") + f"    variables:\n      V: | # {body}\n        x\n",
    }[where]
    check_outcome(text)


@FUZZ
@given(
    size=st.integers(1, 3 * 1024 * 1024),
    style=st.sampled_from(["plain", "single", "double", "block", "key"]),
)
def test_giant_scalars(size: int, style: str) -> None:
    body = "x" * size
    value = {
        "plain": body,
        "single": f"'{body}'",
        "double": f'"{body}"',
        "block": f"|\n      {body}",
        "key": "ok",
    }[style]
    text = HEAD + job("a") + f"    variables:\n      {body if style == 'key' else 'V'}: {value}\n"
    check_outcome(text)


@FUZZ
@given(
    depth=st.integers(1, 200_000),
    opener=st.sampled_from(["[", "{a: ", "- ", "{? "]),
    anchor=st.booleans(),
)
def test_deep_nesting(depth: int, opener: str, anchor: bool) -> None:
    if opener == "- ":
        nested = "".join("\n" + "  " * (i + 3) + "- " for i in range(min(depth, 2000)))
    else:
        nested = opener * depth
    text = HEAD + job("a") + "    variables:\n      V: " + ("&x " if anchor else "") + nested + "\n"
    check_outcome(text)


@HEAVY
@given(
    jobs=st.integers(1, 1500),
    fan=st.integers(0, 80),
    cycles=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_large_needs_graphs(jobs: int, fan: int, cycles: bool, seed: int) -> None:
    parts = [HEAD]
    for i in range(jobs):
        pool = range(jobs) if cycles else range(i)
        needs = [f"j{(k * 7919 + seed) % len(pool)}" for k in range(min(fan, len(pool)))]
        parts.append(job(f"j{i}", needs if needs else None))
    check_outcome("".join(parts))


@FUZZ
@given(st.binary(max_size=4096))
def test_junk(data: bytes) -> None:
    check_outcome(data.decode("utf-8", "surrogateescape"))


@HEAVY
@given(
    copies=st.integers(1, 9),
    width=st.integers(1, 9),
)
def test_alias_and_merge_bombs(copies: int, width: int) -> None:
    lines = ["a0: &a0 [" + ", ".join(["x"] * width) + "]"]
    for level in range(1, copies):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    merges = ["m0: &m0 {k0: v}"] + [
        f"m{i}: &m{i} {{<<: [*m{i - 1}], k{i}: v}}" for i in range(1, copies)
    ]
    text = "\n".join(lines + merges) + "\n" + HEAD + job("a") + f"    tags: *a{copies - 1}\n"
    check_outcome(text)


def test_the_attack_shapes_stay_within_memory() -> None:
    """The shapes that cost hundreds of megabytes before the limits, measured."""
    shapes = [
        HEAD + job("a") + "    tags: [" + "x, " * 100_000 + "x]\n",
        HEAD + "".join(job(f"j{i}", [f"j{k}" for k in range(i)]) for i in range(300)),
        HEAD + "".join(job(f"j{i}", [f"j{i ^ 1}"]) for i in range(2000)),
        HEAD + job("a") + "    variables: {V: " + "[" * 1_000_000 + "}\n",
    ]
    for text in shapes:
        tracemalloc.start()
        try:
            check_outcome(text)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < MEMORY_BOUND, f"{peak / 2**20:.0f} MiB"
