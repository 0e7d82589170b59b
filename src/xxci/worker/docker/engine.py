"""A small typed face on aiodocker: the few Docker engine calls the executor makes.

aiodocker's own errors (and aiohttp's) are translated here, once, and chained::

    XxciError
    └── DockerError            the engine refused or failed a call (``status`` = HTTP)
        ├── DockerUnavailable  the engine could not be reached at all
        └── ImagePullFailed    an image could not be pulled (``reason`` = Docker's words)

The engine is found the way the docker CLI finds it (``DOCKER_HOST`` first).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import aiodocker
import aiohttp
from aiodocker.containers import DockerContainer
from aiodocker.exceptions import DockerError as _AioDockerError
from aiodocker.stream import Stream
from yarl import URL

from xxci.common.errors import ConnectionFailed, XxciError

__all__ = [
    "Container",
    "DockerEngine",
    "DockerError",
    "DockerUnavailable",
    "ImageInfo",
    "ImagePullFailed",
]

_CONTROL_TIMEOUT = 120.0
"""Bound on calls that should answer at once (create, start, kill, inspect, remove)."""

_STDOUT, _STDERR = 1, 2


class DockerError(XxciError):
    """A Docker engine call failed; ``str()`` says which and why."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class DockerUnavailable(DockerError, ConnectionFailed):
    """The engine did not answer (not running, wrong DOCKER_HOST, no permission)."""


class ImagePullFailed(DockerError):
    """An image is absent and could not be pulled."""

    def __init__(self, image: str, reason: str) -> None:
        super().__init__(f"image {image!r} could not be pulled: {reason}")
        self.image = image
        self.reason = reason


@contextmanager
def _translated(action: str) -> Iterator[None]:
    try:
        yield
    except _AioDockerError as exc:
        if exc.status == 900:  # aiodocker's code for "cannot connect"
            raise DockerUnavailable(f"cannot reach the Docker engine: {exc.message}") from exc
        raise DockerError(f"{action}: {exc.message}", exc.status) from exc
    except aiohttp.ClientError as exc:
        raise DockerUnavailable(f"{action}: lost the Docker engine: {exc}") from exc
    except TimeoutError as exc:
        raise DockerError(f"{action}: the Docker engine did not answer in time") from exc


@asynccontextmanager
async def _call(action: str, limit: float | None = _CONTROL_TIMEOUT) -> AsyncIterator[None]:
    with _translated(action):
        async with asyncio.timeout(limit):
            yield


@dataclass(frozen=True)
class ImageInfo:
    """A local image: its ID and the digest to report (repo digest when it has one)."""

    id: str
    digest: str


class DockerEngine:
    """One connection to a Docker engine. Use as an async context manager.

    ``api_version`` ("v1.41"; "auto": ask the engine on the first call) is the engine
    API version to speak; :attr:`api_version` is the one in use, to pass to the next
    connection so it skips the question.
    """

    def __init__(self, url: str | None = None, api_version: str = "auto") -> None:
        self._url = url
        self._api_version = api_version
        self._docker: aiodocker.Docker | None = None

    async def __aenter__(self) -> DockerEngine:
        with _translated("connecting to Docker"):
            self._docker = aiodocker.Docker(url=self._url, api_version=self._api_version)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._docker is not None:
            await self._docker.close()
            self._docker = None

    @property
    def api_version(self) -> str:
        """The API version this connection speaks ("auto" until its first call)."""
        return self._api.api_version

    @property
    def _api(self) -> aiodocker.Docker:
        if self._docker is None:
            raise RuntimeError("DockerEngine used outside 'async with'")
        return self._docker

    async def ping(self) -> str:
        """The engine's version; raises :class:`DockerUnavailable` if it is not there."""
        async with _call("asking the engine's version"):
            version = await self._api.version()
        return str(version.get("Version", "?"))

    async def image(self, ref: str) -> ImageInfo | None:
        """The local image ``ref`` names, or None if it is absent."""
        try:
            async with _call(f"inspecting image {ref!r}"):
                data = await self._api.images.inspect(ref)
        except DockerError as exc:
            if exc.status == 404:
                return None
            raise
        image_id = str(data["Id"])
        repo_digests = data.get("RepoDigests") or []
        return ImageInfo(id=image_id, digest=str(repo_digests[0]) if repo_digests else image_id)

    async def pull(self, ref: str) -> None:
        """Pull ``ref`` (``:latest`` when it names no tag); :class:`ImagePullFailed` if not."""
        try:
            await self._api.images.pull(ref)
        except _AioDockerError as exc:
            if exc.status == 900:
                raise DockerUnavailable(f"cannot reach the Docker engine: {exc.message}") from exc
            raise ImagePullFailed(ref, str(exc.message).strip()) from exc
        except aiohttp.ClientError as exc:
            raise DockerUnavailable(f"pulling {ref!r}: lost the Docker engine: {exc}") from exc

    async def create_container(self, config: Mapping[str, Any], name: str | None) -> Container:
        """Create (not start) a container from an engine API ``ContainerConfig``."""
        async with _call("creating the container"):
            created = await self._api.containers.create(dict(config), name=name)
        return Container(created)

    async def container_ids(self, labels: Mapping[str, str]) -> list[str]:
        """IDs of all containers (running or not) carrying every one of ``labels``."""
        return [container_id for container_id, _ in await self.labelled(labels)]

    async def labelled(self, labels: Mapping[str, str]) -> list[tuple[str, dict[str, str]]]:
        """(id, labels) of all containers (running or not) carrying every one of ``labels``."""
        wanted = [f"{k}={v}" if v else k for k, v in labels.items()]
        async with _call("listing containers"):
            found = await self._api.containers.list(all=True, filters={"label": wanted})
        return sorted((c.id, dict(c._container.get("Labels") or {})) for c in found)

    def container(self, container_id: str) -> Container:
        """A handle on an existing container."""
        return Container(self._api.containers.container(container_id))

    async def create_network(self, name: str, labels: Mapping[str, str]) -> str:
        """Create a bridge network of its own (containers on it reach each other by
        their aliases); its ID."""
        config = {"Name": name, "Driver": "bridge", "CheckDuplicate": True, "Labels": labels}
        async with _call(f"creating network {name!r}"):
            network = await self._api.networks.create(config)
        return str(network.id)

    async def remove_network(self, network_id: str) -> None:
        """Remove a network; one that is gone already is not an error."""
        try:
            async with _call("removing the network"):
                network = await self._api.networks.get(network_id)
                await network.delete()
        except DockerError as exc:
            if exc.status == 404:
                return
            raise

    async def labelled_networks(
        self, labels: Mapping[str, str]
    ) -> list[tuple[str, dict[str, str]]]:
        """(id, labels) of the networks carrying every one of ``labels``."""
        wanted = [f"{k}={v}" if v else k for k, v in labels.items()]
        async with _call("listing networks"):
            found = await self._api.networks.list(filters={"label": wanted})
        return sorted((str(n["Id"]), dict(n.get("Labels") or {})) for n in found)


class Container:
    """One container, for the calls a job attempt makes on it."""

    def __init__(self, handle: DockerContainer) -> None:
        self._handle = handle

    @property
    def id(self) -> str:
        return self._handle.id

    async def put_archive(self, path: str, data: bytes | Path | AsyncIterable[bytes]) -> None:
        """Unpack a tar archive (plain or compressed; bytes, a file or a stream of
        chunks) at ``path``, which must exist."""
        with _translated(f"copying files into {path}"):
            if isinstance(data, Path):
                with data.open("rb") as stream:
                    await self._handle.put_archive(path, stream)  # type: ignore[no-untyped-call]
            else:
                await self._handle.put_archive(path, data)  # type: ignore[no-untyped-call]

    @asynccontextmanager
    async def archive_chunks(self, path: str) -> AsyncIterator[AsyncIterator[bytes] | None]:
        """``path`` (and everything under it) as a tar archive arriving in chunks, never
        held whole; None if it does not exist. Leaving the block early ends the transfer.
        """
        action = f"copying {path} out of the container"
        # aiodocker's get_archive reads the whole archive into memory; its _query is the
        # same request, answered as a stream.
        query = self._handle.docker._query(
            f"containers/{self._handle.id}/archive", method="GET", params={"path": path}
        )
        try:
            with _translated(action):
                response = await query.__aenter__()
        except DockerError as exc:
            if exc.status == 404:
                yield None
                return
            raise
        try:
            yield _chunks(response.content, action)
        finally:
            await query.__aexit__(None, None, None)

    @asynccontextmanager
    async def attach(self) -> AsyncIterator[AsyncIterator[tuple[str, bytes]]]:
        """Attach to stdout and stderr; yields an iterator of ``(stream, bytes)``.

        Attach before :meth:`start` to see every byte; the iterator ends when the
        container's output closes.
        """
        stream = Stream(self._handle.docker, self._attach_request)
        with _translated("attaching to the container"):
            await stream.__aenter__()
        try:
            yield _read_frames(stream)
        finally:
            await stream.close()

    async def _attach_request(self) -> tuple[URL, bytes | None, bool]:
        """What aiodocker's ``Stream`` sends to attach: the URL, no body, and no TTY.

        aiodocker's own ``attach()`` inspects the container first to learn whether it
        has a TTY: an engine call more on every job's way to its start. Containers of
        xxci never have one (``Tty: false``), so the answer is known.
        """
        # logs=False: attached before start, the live stream has every byte; logs=True
        # would replay the log file too, and duplicate what races the switch-over.
        query: dict[str, str | int] = {
            "detachKeys": "",
            "logs": 0,
            "stdin": 0,
            "stdout": 1,
            "stderr": 1,
            "stream": 1,
        }
        return URL(f"containers/{self.id}/attach").with_query(query), None, False

    async def start(self) -> None:
        async with _call("starting the container"):
            await self._handle.start()

    async def wait(self) -> int:
        """Wait for the container to stop; its exit status."""
        async with _call("waiting for the container", limit=None):
            result = await self._handle.wait()
        return int(result.get("StatusCode", -1))

    async def signal(self, name: str) -> None:
        """Send a signal; a container that already stopped is not an error."""
        try:
            async with _call(f"sending {name} to the container"):
                await self._handle.kill(signal=name)
        except DockerError as exc:
            if exc.status in (404, 409):  # gone, or not running
                return
            raise

    async def exit_code(self) -> int | None:
        """The exit status of a container that stopped; None while it runs."""
        async with _call("inspecting the container"):
            info = await self._handle.show()
        state = info.get("State") or {}
        if state.get("Running") or state.get("Restarting"):
            return None
        return int(state.get("ExitCode", -1))

    async def logs(self, tail: int) -> bytes:
        """Its last ``tail`` lines of output, stdout and stderr together."""
        async with _call("reading the container's log"):
            lines = await self._handle.log(stdout=True, stderr=True, tail=str(tail))
        return "".join(lines).encode()

    async def remove(self) -> None:
        """Remove the container and its anonymous volumes, killing it if needed. One
        that is gone already, or that another client is removing (two workers of a
        host sweeping at once), is not an error: this returns once it is gone."""
        try:
            async with _call("removing the container"):
                await self._handle.delete(force=True, v=True)
        except DockerError as exc:
            if exc.status == 404:
                return
            if exc.status != 409 or "already in progress" not in str(exc):
                raise
            await self._removed()

    async def _removed(self) -> None:
        try:
            async with _call("waiting for the container's removal"):
                await self._handle.wait(condition="removed")
        except DockerError as exc:
            if exc.status != 404:
                raise


async def _chunks(content: aiohttp.StreamReader, action: str) -> AsyncIterator[bytes]:
    while True:
        with _translated(action):
            chunk = await content.readany()
        if not chunk:
            return
        yield chunk


async def _read_frames(stream: Any) -> AsyncIterator[tuple[str, bytes]]:
    while True:
        with _translated("reading the container's output"):
            message = await stream.read_out()
        if message is None:
            return
        yield ("stderr" if message.stream == _STDERR else "stdout", bytes(message.data))
