"""Names a terminal would obey are printed as written, escaped; text that is not
Unicode is an error at its line: through the real command line, never a traceback."""

from __future__ import annotations

from pathlib import Path

from .conftest import run

ESCAPED_NAME = """\
pipeline: {name: main}
stages: [build]
default: {image: busybox}
jobs:
  - {name: "evil\\e]0;pwned\\a\\e[2J", stage: build, script: [make]}
"""

SURROGATE = """\
pipeline: {name: main}
stages: [build]
default: {image: busybox}
jobs:
  - {name: "\\ud83d\\udca5", stage: build, script: ["echo \\0"]}
"""


async def test_control_characters_in_names_are_escaped_by_check_and_dry_run(repo: Path) -> None:
    (repo / ".pipelines/main.yml").write_text(ESCAPED_NAME)

    checked = await run(["check"])
    planned = await run(["dry-run"])

    assert checked.exit_code == 0 and planned.exit_code == 0
    assert "\x1b" not in checked.output + planned.output
    assert "\x07" not in checked.output + planned.output
    assert "    job evil\\x1b]0;pwned\\x07\\x1b[2J\n" in planned.stdout


async def test_lone_surrogates_and_nul_are_errors_in_check_and_dry_run(repo: Path) -> None:
    (repo / ".pipelines/main.yml").write_text(SURROGATE)
    expected = (
        ".pipelines/main.yml:5:12: '\\ud83d\\udca5' is not valid Unicode: it holds \\ud83d, "
        "half of a character (a lone surrogate)\n"
        ".pipelines/main.yml:5:51: 'echo \\x00' holds a NUL character, which no name or "
        "value may hold\n"
        "2 errors in 1 file\n"
    )
    for command in ("check", "dry-run"):
        result = await run([command])
        assert (result.exit_code, result.stdout, result.stderr) == (1, "", expected)


async def test_an_override_that_is_not_utf8_is_a_usage_error(repo: Path) -> None:
    result = await run(["check", "--override", "default.image=bad\udcff"])
    assert (result.exit_code, result.stderr) == (
        2,
        "error: invalid --override 'default.image=bad\\udcff': it is not valid text "
        "(it holds \\udcff, a byte that is not UTF-8)\n",
    )
