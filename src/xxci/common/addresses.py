"""Several orchestrator addresses as one gRPC target: ``--server a:7420,b:7420``.

Orchestrators serving one shared store are interchangeable, so a client or a worker
given several of them uses the first that answers and moves on to the next when it
goes down. gRPC does this itself for a target that lists addresses
(``ipv4:10.0.0.1:7420,10.0.0.2:7420``, load balancing ``pick_first``): a connection
that breaks or is refused is retried on the next address at once, and a stream that
breaks is re-opened by its owner (workers reconnect, followers resume) on whichever
address answers. Host names are resolved here, once, when the channel is made.
"""

from __future__ import annotations

import socket

from xxci.common.errors import UsageError

__all__ = ["channel_target", "split_addresses"]


def split_addresses(server: str) -> list[str]:
    """``"a:7420, b:7420"`` -> ``["a:7420", "b:7420"]``; UsageError for an empty one."""
    parts = [part.strip() for part in server.split(",")]
    if not parts or any(not part for part in parts):
        raise UsageError(f"--server {server!r}: expected HOST:PORT[,HOST:PORT...]")
    return parts


def _host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise UsageError(f"--server: {address!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def channel_target(server: str) -> tuple[str, list[tuple[str, str | int]]]:
    """The gRPC target for ``server`` and the channel options it needs. One address
    is used as given; several become one ``pick_first`` target of resolved addresses
    (UsageError naming a host that does not resolve)."""
    addresses = split_addresses(server)
    if len(addresses) == 1:
        return addresses[0], []
    families: set[int] = set()
    resolved: list[str] = []
    for address in addresses:
        host, port = _host_port(address)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as err:
            raise UsageError(f"--server: cannot resolve {host!r}: {err.strerror}") from None
        family, _, _, _, sockaddr = infos[0]
        families.add(family)
        ip = str(sockaddr[0])
        resolved.append(f"[{ip}]:{port}" if family == socket.AF_INET6 else f"{ip}:{port}")
    if len(families) > 1:  # one target holds one address family
        raise UsageError(f"--server {server!r}: mixes IPv4 and IPv6 addresses")
    scheme = "ipv6" if families == {socket.AF_INET6} else "ipv4"
    options: list[tuple[str, str | int]] = [
        ("grpc.lb_policy_name", "pick_first"),
        ("grpc.default_authority", addresses[0]),
    ]
    return f"{scheme}:{','.join(resolved)}", options
