"""The ``hookrouter`` command: serve, worker, apply, events, replay. The only place logging is configured."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from router import logs
from router.app import build_registry, connect, create_app
from router.bootstrap import prepare
from router.cli_events import events_cli, replay
from router.embedded import EmbeddedRedis
from router.keys import Keys
from router.settings import Settings
from router.workers import Workers, cancel
from subscriptions.config import Change, apply, load
from subscriptions.errors import ConfigError
from subscriptions.snapshot import SnapshotCache

cli = typer.Typer(help="Webhook ingestion and trigger router.", no_args_is_help=True, add_completion=False)
cli.add_typer(events_cli, name="events")
cli.command("replay")(replay)
console = Console()

ConfigPath = Annotated[Path, typer.Option("--file", "-f", exists=True, dir_okay=False, help="Config YAML.")]


def _settings() -> tuple[Settings, EmbeddedRedis | None]:
    settings = Settings()
    logs.setup(settings.log_level)
    return prepare(settings)


async def _apply(settings: Settings, path: Path) -> list[Change]:
    records = load(path)
    redis = connect(settings)
    try:
        return await apply(build_registry(settings, redis), records)
    finally:
        await redis.aclose()


def _print_changes(changes: list[Change]) -> None:
    table = Table("kind", "id", "change")
    for c in changes:
        style = {"created": "green", "updated": "yellow"}.get(c.action, "dim")
        table.add_row(c.kind, c.id, f"[{style}]{c.action}[/]")
    console.print(table)
    moved = sum(c.action != "unchanged" for c in changes)
    console.print(f"{moved} changed, {len(changes) - moved} unchanged")


def _run_apply(settings: Settings, path: Path) -> None:
    try:
        changes = asyncio.run(_apply(settings, path))
    except ConfigError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    _print_changes(changes)


@cli.command("apply")
def apply_cmd(file: ConfigPath) -> None:
    """Upsert a declarative config file; prints what changed. Idempotent."""
    settings, embedded = _settings()
    try:
        _run_apply(settings, file)
    finally:
        if embedded:
            embedded.stop()


@cli.command()
def serve(
    apply_file: Annotated[
        Path | None, typer.Option("--apply", exists=True, dir_okay=False, help="Apply this config file before serving.")
    ] = None,
) -> None:
    """Run the webhook receiver (and, unless HOOKROUTER_RUN_WORKERS=false, the routing workers)."""
    settings, embedded = _settings()
    try:
        if embedded:
            console.print(
                f"[yellow]No REDIS_URL set: using an embedded redis-server with append-only persistence "
                f"in {embedded.data_dir}[/]"
            )
        if apply_file:
            _run_apply(settings, apply_file)
        # uvicorn re-raises SIGTERM once it has shut down; turn that into SystemExit so the finally below
        # still stops the embedded Redis (which then writes out its append-only file).
        signal.signal(signal.SIGTERM, _exit_on_signal)
        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_config=logs.config(settings.log_level),
            proxy_headers=True,
            server_header=False,
        )
    finally:
        if embedded:
            embedded.stop()


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


async def _work(settings: Settings) -> None:
    redis = connect(settings)
    registry = build_registry(settings, redis)
    cache = SnapshotCache(registry, refresh_s=settings.registry_refresh_s)
    workers = Workers(settings, redis, registry.box, cache, Keys(settings.prefix))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await cache.refresh()
    refresher = asyncio.create_task(cache.run())
    await workers.start()
    try:
        await stopping.wait()
    finally:
        await workers.stop()  # the batches in hand finish, up to a deadline
        await cancel(refresher)
        await redis.aclose()


@cli.command()
def worker() -> None:
    """Run the workers only: routing, delivery, subscriptions (scale out; they share Redis consumer groups)."""
    settings, embedded = _settings()
    try:
        asyncio.run(_work(settings))
    finally:
        if embedded:
            embedded.stop()


def main() -> None:
    cli()
