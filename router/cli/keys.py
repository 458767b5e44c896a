"""``hookrouter keys create|list|revoke``: the admin API's scoped keys, from a shell (as the operator)."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from router.cli.context import prepared
from router.cli.errors import CliError
from router.cli.output import JsonOption, echo_json, id_column, text_column
from router.runtime.process import connect
from subscriptions.api_keys import ApiKey, ApiKeys
from subscriptions.audit import AuditLog
from subscriptions.keys import RegistryKeys

keys_cli = typer.Typer(help="Scoped API keys for the admin API.", no_args_is_help=True)
console = Console()
T = TypeVar("T")


def _run(action: Callable[[ApiKeys, AuditLog], Awaitable[T]], *, join: bool = False) -> T:
    """Run ``action`` on the store (``join``: only one that runs already; see ``router.cli.context``)."""
    with prepared(join=join) as (settings, _):

        async def run() -> T:
            redis = connect(settings)
            try:
                keys = RegistryKeys(settings.prefix)
                return await action(ApiKeys(redis, keys), AuditLog(redis, keys))
            finally:
                await redis.aclose()

        return asyncio.run(run())


@keys_cli.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="What the key is for (shown in `keys list`).")],
    scope: Annotated[
        list[str], typer.Option("--scope", help="operator, project:<id>:read or project:<id>:write; repeatable.")
    ],
) -> None:
    """Create a key and print it. It is shown this once: only its hash is stored."""

    async def create(keys: ApiKeys, audit: AuditLog) -> tuple[ApiKey, str]:
        key, token = await keys.create(name, scope)
        await audit.record("cli", "keys create", key.id, 0)
        return key, token

    try:
        key, token = _run(create)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    typer.echo(f"created key {key.id} ({', '.join(key.scopes)}); it will not be shown again:", err=True)
    typer.echo(token)


def _when(at: float | None) -> str:
    return "-" if at is None else datetime.datetime.fromtimestamp(at, datetime.UTC).isoformat(timespec="seconds")


@keys_cli.command("list")
def keys_list(as_json: JsonOption = False) -> None:
    """Every key, revoked ones included, with when it was last used (to the minute). Never a secret."""
    found: list[ApiKey] = _run(lambda keys, _: keys.list(), join=True)
    if as_json:
        echo_json(
            [
                {
                    "id": key.id,
                    "name": key.name,
                    "scopes": list(key.scopes),
                    "created_at": _when(key.created_at),
                    "last_used_at": None if key.last_used_at is None else _when(key.last_used_at),
                    "revoked": key.revoked,
                }
                for key in found
            ]
        )
        return
    table = Table(id_column(), *(text_column(c) for c in ("name", "scopes", "created", "last used", "revoked")))
    for key in found:
        table.add_row(
            key.id,
            key.name,
            " ".join(key.scopes),
            _when(key.created_at),
            _when(key.last_used_at),
            "yes" if key.revoked else "",
        )
    console.print(table)


@keys_cli.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (from `keys list`).")]) -> None:
    """Revoke a key: requests bearing it are refused (401) from now on."""

    async def revoke(keys: ApiKeys, audit: AuditLog) -> bool:
        revoked = await keys.revoke(key_id)
        if revoked:
            await audit.record("cli", "keys revoke", key_id, 0)
        return revoked

    if not _run(revoke):
        raise CliError(f"no live key {key_id}", 1)
    typer.echo(f"revoked {key_id}")
