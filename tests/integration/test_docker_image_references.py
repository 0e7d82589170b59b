"""The image references ``xxci check`` refuses are those the Docker engine refuses
("invalid reference format"), asked of the real engine; every other one it accepts."""

from __future__ import annotations

import pytest

from xxci.common.spec.keywords import valid_image_reference
from xxci.worker.docker.engine import DockerEngine, DockerError

pytestmark = [pytest.mark.docker, pytest.mark.timeout(60)]

REFUSED = [
    "Maven:3",
    "a b",
    "busybox:",
    ":tag",
    "x/-y",
    "a___b",
    "a.-b",
    "a..b",
    "-a",
    "a-",
    "a:-x",
    "a:.x",
    "a@sha256:abc",
    "a:" + "x" * 129,
    "a\x00b",
    "a\u00e9",
    "a\x1b[2Jb",
    "a/" + "b" * 300,
]

# Names no engine holds (an unknown registry), so the engine's answer is "no such image".
ACCEPTED = [
    "probe.invalid:5000/a/b:1.0",
    "UPPER.probe.invalid/a:1",
    "probe.invalid/a__b",
    "probe.invalid/a--b/c",
    "probe.invalid/a:_x",
    "probe.invalid/a.b",
    "probe.invalid/a:1@sha256:" + "ab" * 32,
]


async def _engine_accepts(engine: DockerEngine, ref: str) -> bool:
    try:
        found = await engine.image(ref)
    except DockerError as exc:
        assert exc.status == 400, exc
        return False
    assert found is None, f"{ref!r} unexpectedly names a local image"
    return True


@pytest.mark.parametrize("ref", REFUSED + ACCEPTED)
async def test_check_refuses_an_image_reference_exactly_when_the_engine_does(
    docker_image: str, ref: str
) -> None:
    async with DockerEngine() as engine:
        engine_accepts = await _engine_accepts(engine, ref)
    assert engine_accepts is (ref in ACCEPTED)
    assert valid_image_reference(ref) is engine_accepts
