"""Masking secrets in output, whole and split across pieces. Pure."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from xxci.worker.attempt.masking import Masker

SECRET = b"sup3r-s3cret-value"
B64 = base64.b64encode(SECRET)


def feed_all(masker: Masker, pieces: list[bytes]) -> bytes:
    stream = masker.stream()
    return b"".join(stream.feed(p) for p in pieces) + stream.flush()


def test_a_value_and_its_base64_forms_are_masked() -> None:
    masker = Masker([SECRET])
    text = b"a " + SECRET + b" b " + B64 + b" c " + B64.rstrip(b"=") + b"\n"
    assert masker.mask(text) == b"a [MASKED] b [MASKED] c [MASKED]\n"


def test_a_value_split_across_pieces_is_masked() -> None:
    masker = Masker([SECRET])
    assert feed_all(masker, [b"token: sup3r-s", b"3cret-", b"value!\n"]) == b"token: [MASKED]!\n"


def test_what_only_looks_like_the_start_of_a_secret_is_held_then_passed_on() -> None:
    stream = Masker([SECRET]).stream()
    assert stream.feed(b"hello sup3r") == b"hello "
    assert stream.feed(b" world\n") == b"sup3r world\n"
    assert stream.flush() == b""


def test_the_end_of_the_stream_releases_what_is_held() -> None:
    stream = Masker([SECRET]).stream()
    assert stream.feed(b"ends with sup") == b"ends with "
    assert stream.flush() == b"sup"


def test_without_values_output_passes_untouched() -> None:
    masker = Masker([])
    assert not masker
    assert feed_all(masker, [b"abc", b"def"]) == b"abcdef"


def test_message_text_is_masked() -> None:
    assert Masker([SECRET]).mask_text(f"failed: {SECRET.decode()}") == "failed: [MASKED]"


@given(
    prefix=st.binary(max_size=40),
    suffix=st.binary(max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=120), max_size=6),
    encoded=st.booleans(),
)
def test_no_split_of_the_output_lets_a_value_through(
    prefix: bytes, suffix: bytes, cuts: list[int], encoded: bool
) -> None:
    data = prefix + (B64 if encoded else SECRET) + suffix
    points = sorted({min(c, len(data)) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    out = feed_all(Masker([SECRET]), pieces)
    assert SECRET not in out
    assert B64.rstrip(b"=") not in out
    assert b"[MASKED]" in out
