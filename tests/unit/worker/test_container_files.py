"""The one archive a job's container gets: header, workspace bodies, end blocks; and
the cache that makes each body once."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
from pathlib import Path

from xxci.common.archives import pack_directory
from xxci.worker.docker.container_files import BodyCache, archive_stream, header, write_body


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def packed(tmp_path: Path, name: str, files: dict[str, str]) -> Path:
    return pack_directory(tree(tmp_path / name, files), tmp_path / f"{name}.tar.gz")


async def assembled(head: bytes, bodies: list[Path]) -> bytes:
    return b"".join([chunk async for chunk in archive_stream(head, bodies)])


def unpacked(archive: bytes) -> dict[str, str | None]:
    """What unpacking the archive in member order leaves: name -> text (None: a folder)."""
    found: dict[str, str | None] = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar:
            data = tar.extractfile(member) if member.isreg() else None
            found[member.name] = data.read().decode() if data else None
    return found


async def test_one_archive_holds_the_workspace_then_each_archive_over_it_in_order(
    tmp_path: Path,
) -> None:
    source = packed(tmp_path, "src", {"a.txt": "source a\n", "sub/b.txt": "b\n", "c": "src c"})
    first = packed(tmp_path, "art1", {"c": "art1 c", "out/x": "x\n"})
    second = packed(tmp_path, "art2", {"c": "art2 c"})
    bodies = []
    for archive in (source, first, second):
        bodies.append(tmp_path / f"{archive.name}.body")
        write_body(archive, bodies[-1])

    files = unpacked(await assembled(header(), bodies))

    assert files == {
        "workspace": None,
        "workspace/a.txt": "source a\n",
        "workspace/sub": None,
        "workspace/sub/b.txt": "b\n",
        "workspace/c": "art2 c",
        "workspace/out": None,
        "workspace/out/x": "x\n",
    }


async def test_the_script_goes_in_only_when_given_private_to_root(tmp_path: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(await assembled(header(), []))) as tar:
        assert [(m.name, m.mode) for m in tar] == [("workspace", 0o755)]
    script = ("/.xxci/run.sh", b"echo hi\n")
    with tarfile.open(fileobj=io.BytesIO(await assembled(header(script), []))) as tar:
        members = {m.name: m for m in tar}
        assert sorted(members) == [".xxci", ".xxci/run.sh", "workspace"]
        assert members[".xxci"].isdir() and members[".xxci"].mode == 0o700
        assert members[".xxci/run.sh"].mode == 0o600
        data = tar.extractfile(members[".xxci/run.sh"])
        assert data is not None and data.read() == b"echo hi\n"


async def test_file_secrets_go_in_private_beside_the_script() -> None:
    script = ("/.xxci/run.sh", b"echo hi\n")
    secret = ("/.xxci-secrets/KUBECONFIG", b"apiVersion: v1\n")
    with tarfile.open(fileobj=io.BytesIO(await assembled(header(script, [secret]), []))) as tar:
        members = {m.name: m for m in tar}
        assert sorted(members) == [
            ".xxci",
            ".xxci-secrets",
            ".xxci-secrets/KUBECONFIG",
            ".xxci/run.sh",
            "workspace",
        ]
        assert members[".xxci-secrets"].mode == 0o700
        assert members[".xxci-secrets/KUBECONFIG"].mode == 0o600
        data = tar.extractfile(members[".xxci-secrets/KUBECONFIG"])
        assert data is not None and data.read() == b"apiVersion: v1\n"


def test_a_body_keeps_links_and_modes_and_moves_hard_links_with_their_target(
    tmp_path: Path,
) -> None:
    archive = tmp_path / "plain.tar"
    with tarfile.open(archive, "w") as tar:
        data = b"#!/bin/sh\n"
        info = tarfile.TarInfo("./bin/run")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("bin/again")
        link.type, link.linkname = tarfile.LNKTYPE, "bin/run"
        tar.addfile(link)
        soft = tarfile.TarInfo("latest")
        soft.type, soft.linkname = tarfile.SYMTYPE, "bin/run"
        tar.addfile(soft)
    body = tmp_path / "body"

    write_body(archive, body)

    assert body.stat().st_size % tarfile.BLOCKSIZE == 0
    with tarfile.open(fileobj=io.BytesIO(body.read_bytes() + bytes(1024))) as tar:
        members = {m.name: m for m in tar}
        assert members["workspace/bin/run"].mode == 0o755
        assert members["workspace/bin/again"].linkname == "workspace/bin/run"
        assert members["workspace/latest"].linkname == "bin/run"  # as the job wrote it


async def test_each_archive_file_is_converted_once_however_many_jobs_want_it(
    tmp_path: Path,
) -> None:
    source = packed(tmp_path, "src", {"a": "1"})
    cache = BodyCache(tmp_path / "bodies")

    async def job() -> list[Path]:
        async with cache.bodies([source]) as bodies:
            await asyncio.sleep(0)
            return bodies

    first, second = await asyncio.gather(job(), job())
    third = await job()

    assert first == second == third
    assert os.listdir(tmp_path / "bodies") == [first[0].name]


async def test_a_new_file_at_the_same_path_gets_a_new_body(tmp_path: Path) -> None:
    source = packed(tmp_path, "src", {"a": "1"})
    cache = BodyCache(tmp_path / "bodies")
    async with cache.bodies([source]) as bodies:
        before = bodies[0].read_bytes()
    source.unlink()
    pack_directory(tree(tmp_path / "src", {"a": "2, longer"}), source)
    async with cache.bodies([source]) as bodies:
        assert bodies[0].read_bytes() != before
        assert b"2, longer" in bodies[0].read_bytes()
