"""``hookrouter keys create|list|revoke`` as an operator runs them: a real process against the test Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis

from subscriptions.api_keys import ApiKeys
from subscriptions.keys import RegistryKeys
from tests.router.conftest import MASTER_KEY
from tests.router.test_cli import cli_env, hookrouter

pytestmark = pytest.mark.anyio


def env(redis_url: str) -> dict[str, str]:
    return cli_env(REDIS_URL=redis_url, HOOKROUTER_MASTER_KEY=MASTER_KEY, COLUMNS="200")


async def test_keys_create_list_revoke(redis_url: str, redis: Redis, tmp_path: Path) -> None:
    created = hookrouter(
        "keys",
        "create",
        "--name",
        "ci runner",
        "--scope",
        "project:p1:write",
        "--scope",
        "project:p2:read",
        env=env(redis_url),
        cwd=tmp_path,
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("hrk_")
    assert token not in created.stderr
    keys = ApiKeys(redis, RegistryKeys())
    key = await keys.authenticate(token)
    assert key is not None
    assert key.scopes == ("project:p1:write", "project:p2:read")

    listed = hookrouter("keys", "list", env=env(redis_url), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert key.id in listed.stdout and "ci runner" in listed.stdout and "project:p1:write" in listed.stdout
    assert token.split("_", 2)[2] not in listed.stdout

    revoked = hookrouter("keys", "revoke", key.id, env=env(redis_url), cwd=tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    assert await keys.authenticate(token) is None
    again = hookrouter("keys", "revoke", key.id, env=env(redis_url), cwd=tmp_path)
    assert again.returncode == 1


async def test_keys_create_refuses_an_unknown_scope(redis_url: str, redis: Redis, tmp_path: Path) -> None:
    refused = hookrouter("keys", "create", "--name", "x", "--scope", "admin", env=env(redis_url), cwd=tmp_path)
    assert refused.returncode == 2
    assert "unknown scope" in refused.stderr
    assert refused.stdout == ""
    assert await ApiKeys(redis, RegistryKeys()).list() == []
