"""The ``hookrouter`` command: serve, worker, apply, events, replay. The only place logging is configured."""

from __future__ import annotations

import asyncio
import importlib.metadata
import signal
from pathlib import Path
from typing import Annotated, Any, TypedDict

import typer
import uvicorn
from rich.console import Console
from rich.table import Table
from rich.text import Text
from starlette.applications import Starlette

from router import logs
from router.cli import errors
from router.cli.context import prepared
from router.cli.events import events_cli, replay
from router.cli.forward import forward
from router.cli.keys import keys_cli
from router.cli.send import send
from router.egress.checks import record_refusals
from router.ingress.http_protocol import Limits, bounded_protocol
from router.runtime.process import build_registry, connect
from router.settings import Settings, proxy_networks
from subscriptions.audit import AuditLog
from subscriptions.config import apply, load, preview
from subscriptions.errors import ConfigError, RegistryChanged
from subscriptions.keys import RegistryKeys
from subscriptions.plan import Change

cli = typer.Typer(help="Webhook ingestion and trigger router.", no_args_is_help=True)
cli.add_typer(events_cli, name="events")
cli.add_typer(keys_cli, name="keys")
cli.command("replay")(replay)
cli.command("forward")(forward)
cli.command("send")(send)
console = Console()

ConfigPath = Annotated[Path, typer.Option("--file", "-f", exists=True, dir_okay=False, help="Config YAML.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hookrouter {importlib.metadata.version('hookrouter')}")
        raise typer.Exit()


@cli.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Webhook ingestion and trigger router."""


async def _apply(
    settings: Settings, path: Path, *, prune: bool = False, prune_sdk_users: bool = False, dry_run: bool = False
) -> list[Change]:
    records = load(path, public_url=settings.public_url)
    refusals = record_refusals(records, settings.egress_policy)
    if refusals:
        raise ConfigError(f"{path}: refused by the egress policy:\n  " + "\n  ".join(refusals))
    redis = connect(settings)
    try:
        registry = build_registry(settings, redis)
        if dry_run:
            return (await preview(registry, records, prune=prune, prune_sdk_users=prune_sdk_users)).changes
        changes = await apply(registry, records, prune=prune, prune_sdk_users=prune_sdk_users)
        # Each record a file changed is in the trail, as the admin API's changes are.
        action = "apply --prune" if prune else "apply"
        await AuditLog(redis, RegistryKeys(settings.prefix)).record_many(
            [("cli", f"{action}: {c.action}", f"{c.kind}/{c.id}", 0) for c in changes if c.action != "unchanged"]
        )
        return changes
    finally:
        await redis.aclose()


def _print_changes(changes: list[Change], *, dry_run: bool = False) -> None:
    # Field names only: a changed secret shows as its field's name, never its value.
    table = Table()
    table.add_column("kind", no_wrap=True)
    table.add_column("id", overflow="fold")
    table.add_column("change", no_wrap=True)  # "updated (drops: …)" kept on one line, for readers and for grep
    table.add_column("fields", overflow="fold")
    for c in changes:
        style = {"created": "green", "updated": "yellow", "deleted": "red"}.get(c.action, "dim")
        table.add_row(c.kind, Text(c.id), Text(c.label, style=style), Text(", ".join(c.fields)))
    console.print(table)
    moved = sum(c.action != "unchanged" for c in changes)
    if dry_run:
        console.print(f"dry run: {moved} would change, {len(changes) - moved} unchanged; nothing was written")
        console.print("run again with --yes to apply")
    else:
        console.print(f"{moved} changed, {len(changes) - moved} unchanged")


def _run_apply(
    settings: Settings, path: Path, *, prune: bool = False, prune_sdk_users: bool = False, dry_run: bool = False
) -> None:
    try:
        changes = asyncio.run(_apply(settings, path, prune=prune, prune_sdk_users=prune_sdk_users, dry_run=dry_run))
    except RegistryChanged:
        raise errors.CliError("the registry kept changing while applying; nothing was written: run again", 1) from None
    _print_changes(changes, dry_run=dry_run)


@cli.command("apply")
def apply_cmd(
    file: ConfigPath,
    prune: Annotated[
        bool, typer.Option("--prune", help="Also delete the project's records the file no longer names.")
    ] = False,
    prune_sdk_users: Annotated[
        bool,
        typer.Option(
            "--prune-sdk-users", help="With --prune: also delete the users the SDK created that the file omits."
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="With --prune: apply (else only show the diff).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")] = False,
) -> None:
    """Upsert a declarative config file; prints what changed. Idempotent.

    A workflow's activations in the file are authoritative: users no longer listed are deactivated."""
    if prune_sdk_users and not prune:
        raise errors.CliError("--prune-sdk-users only goes with --prune")
    with prepared(join=False) as (settings, _):
        # Pruning deletes: it shows the diff and writes nothing until the operator confirms with --yes.
        _run_apply(settings, file, prune=prune, prune_sdk_users=prune_sdk_users, dry_run=dry_run or (prune and not yes))


@cli.command()
def serve(
    apply_file: Annotated[
        Path | None, typer.Option("--apply", exists=True, dir_okay=False, help="Apply this config file before serving.")
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="Address to bind (default: HOOKROUTER_HOST).")] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=0, max=65535, help="Port to bind (default: HOOKROUTER_PORT).")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Receiver processes sharing the port; above 1 the routing workers run in one more process.",
        ),
    ] = 1,
) -> None:
    """Run the webhook receiver (and, unless HOOKROUTER_RUN_WORKERS=false, the routing workers)."""
    with prepared(join=False) as (settings, embedded):
        settings = settings.model_copy(update={k: v for k, v in {"host": host, "port": port}.items() if v is not None})
        if embedded:
            console.print(
                f"[yellow]No REDIS_URL set: using an embedded redis-server with append-only persistence "
                f"in {embedded.data_dir}[/]"
            )
        if apply_file:
            _run_apply(settings, apply_file)
        # Imported here: the application (the admin API's schema models) takes seconds to import, which the
        # other commands, run by scripts and cron jobs, should not pay.
        if workers > 1:
            from router.cli.receivers import serve_many

            _stop_on_sigterm()
            serve_many(settings, server_options(settings, settings.port), workers)
            return
        from router.app import create_app

        _run(create_app(settings), settings, settings.port)


@cli.command()
def worker() -> None:
    """Run the workers only: routing, delivery, subscriptions (scale out; they share Redis consumer groups).

    Serves /healthz and /readyz on HOOKROUTER_HOST:HOOKROUTER_HEALTH_PORT for probes."""
    with prepared(join=False) as (settings, _):
        from router.app import create_worker_app  # as in serve: only the commands that serve import the app

        _run(create_worker_app(settings), settings, settings.health_port)


def server_options(settings: Settings, port: int) -> dict[str, Any]:
    """uvicorn's keyword arguments for one server: ``uvicorn.run(app, **server_options(settings, port))``."""
    limits = Limits(
        max_header_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers,
        header_timeout_s=settings.header_timeout_s,
        body_timeout_s=settings.body_timeout_s,
        max_connections=settings.max_connections,
    )
    return {
        "host": settings.host,
        "port": port,
        "log_config": logs.config(settings.log_level),
        "server_header": False,
        **proxy_options(settings),
        # Always httptools with the bounds above, never uvicorn's automatic choice (h11 has none of them), and
        # no WebSockets: no route uses them, and an upgraded connection would escape the bounds.
        "http": bounded_protocol(limits),
        "ws": "none",
    }


def _run(app: Starlette, settings: Settings, port: int) -> None:
    _stop_on_sigterm()
    uvicorn.run(app, **server_options(settings, port))


def _stop_on_sigterm() -> None:
    # uvicorn re-raises SIGTERM once it has shut down; turn that into SystemExit so the caller's finally
    # still stops the embedded Redis (which then writes out its append-only file).
    signal.signal(signal.SIGTERM, _exit_on_signal)


def proxy_options(settings: Settings) -> ProxyOptions:
    """uvicorn's proxy-header options: X-Forwarded-For/-Proto believed only from HOOKROUTER_TRUSTED_PROXIES.

    uvicorn's own default trusts loopback (or $FORWARDED_ALLOW_IPS, which may be "*"); a sidecar on the
    same host could then set any client address. With no proxies configured the headers are not read.
    """
    networks = proxy_networks(settings.trusted_proxies)
    if not networks:
        return {"proxy_headers": False, "forwarded_allow_ips": ""}
    return {"proxy_headers": True, "forwarded_allow_ips": ",".join(networks)}


class ProxyOptions(TypedDict):
    proxy_headers: bool
    forwarded_allow_ips: str


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    errors.run(typer.main.get_command(cli))
