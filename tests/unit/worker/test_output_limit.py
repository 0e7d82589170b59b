"""The output limit: what of each piece of output is kept, and the line at the cut."""

from __future__ import annotations

from xxci.worker.attempt.output_limit import DEFAULT_OUTPUT_LIMIT, SYSTEM_ALLOWANCE, OutputLimit

NOTICE = (
    b"output cut at the limit of 10 bytes: the job goes on, the rest of its output is not kept\n"
)


def test_pieces_pass_whole_until_the_limit() -> None:
    limit = OutputLimit(10)
    assert limit.take("stdout", b"abcd") == (b"abcd", b"")
    assert limit.take("stderr", b"efghij") == (b"efghij", b"")
    assert not limit.cut


def test_the_piece_crossing_the_limit_is_cut_and_announced_once() -> None:
    limit = OutputLimit(10)
    limit.take("stdout", b"abcdefgh")
    assert limit.take("stdout", b"ijkl") == (b"ij", b"\n" + NOTICE)
    assert limit.cut
    assert limit.take("stdout", b"more") == (b"", b"")
    assert limit.take("stderr", b"more") == (b"", b"")


def test_a_cut_at_a_line_end_needs_no_extra_line_break() -> None:
    limit = OutputLimit(10)
    assert limit.take("stdout", b"123456789\nmore") == (b"123456789\n", NOTICE)


def test_xxcis_own_lines_pass_after_the_cut_within_an_allowance() -> None:
    limit = OutputLimit(10)
    limit.take("stdout", b"x" * 20)
    assert limit.take("system", b"$ make\n") == (b"$ make\n", b"")
    big = b"s" * SYSTEM_ALLOWANCE
    assert limit.take("system", big) == (b"", b"")


def test_without_a_limit_the_default_is_gitlabs() -> None:
    assert OutputLimit(None).limit == DEFAULT_OUTPUT_LIMIT == 16 * 1024 * 1024
