"""``xxci cache``: the job caches the orchestrator keeps (``--local``: ``$XXCI_HOME``'s)."""

from __future__ import annotations

from pathlib import Path

import asyncclick as click

from xxci.cli.client.connect import connect, server_options
from xxci.cli.display.text import local_time, make_console, table
from xxci.cli.options import exits_cleanly
from xxci.common.errors import NotFoundError, UsageError


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value, units = size / 1024, ["KiB", "MiB", "GiB", "TiB"]
    while value >= 1024 and len(units) > 1:
        value, units = value / 1024, units[1:]
    return f"{value:.1f} {units[0]}"


def _entries(count: int) -> str:
    return f"{count} cache {'entry' if count == 1 else 'entries'}"


@click.group("cache")
def cache() -> None:
    """Job caches: one archive per pipeline and key, restored by any worker.

    A cap (`xxci server --cache-max-bytes`, default 5 GiB) evicts the least
    recently used.
    """


@cache.command("ls")
@click.option("--pipeline", metavar="P", default="", help="Only the caches of pipeline P.")
@server_options
@exits_cleanly
async def list_caches(
    pipeline: str, local: bool, server: str | None, token: str | None, tls_ca: Path | None
) -> None:
    """List cache entries, most recently used first, with their size and last use."""
    async with connect(local, server, token, tls_ca) as api:
        rows = await api.caches(pipeline)
    if not rows:
        click.echo("no caches")
        return
    body = [
        (r.pipeline, r.key, human_size(r.size), local_time(r.saved_at), local_time(r.used_at))
        for r in rows
    ]
    make_console().print(table(("PIPELINE", "KEY", "SIZE", "SAVED", "LAST USED"), body))
    total = sum(r.size for r in rows)
    click.echo(f"{_entries(len(rows))}, {human_size(total)}")


@cache.command("rm")
@click.argument("key", required=False, default="")
@click.option("--pipeline", metavar="P", default="", help="The caches of pipeline P.")
@click.option("--all", "everything", is_flag=True, help="Every cache of every pipeline.")
@server_options
@exits_cleanly
async def remove_caches(
    key: str,
    pipeline: str,
    everything: bool,
    local: bool,
    server: str | None,
    token: str | None,
    tls_ca: Path | None,
) -> None:
    """Remove cache KEY of --pipeline P, every cache of P, or (--all) every cache."""
    if everything == bool(pipeline):
        raise UsageError("name the caches to remove: --pipeline P [KEY], or --all")
    if key and everything:
        raise UsageError("KEY goes with --pipeline P, not --all")
    async with connect(local, server, token, tls_ca) as api:
        removed = await api.remove_caches(pipeline, key)
    if not removed and key:
        raise NotFoundError(f"no cache {key!r} for pipeline {pipeline}")
    click.echo(f"removed {_entries(removed)}")


command = cache
