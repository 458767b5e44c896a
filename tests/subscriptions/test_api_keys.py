"""The key store on its own: scopes, hashing, revocation and how often a use is written."""

from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis

from subscriptions.api_keys import ApiKeys, allows, check_scope
from subscriptions.keys import RegistryKeys
from tests.clock import Clock

pytestmark = pytest.mark.anyio


def test_write_implies_read_and_operator_everything() -> None:
    assert allows(["project:p1:write"], "project:p1:read")
    assert not allows(["project:p1:read"], "project:p1:write")
    assert not allows(["project:p1:write"], "project:p2:read")
    assert not allows(["project:p1:write"], "project:p1:x:read")  # project ids may hold ':'
    assert allows(["project:p1:x:write"], "project:p1:x:read")
    assert not allows(["project:p1:write"], "operator")
    assert allows(["operator"], "project:p9:write")
    for bad in ("operator ", "project::read", "project:p1", "project:p1:admin", "Operator"):
        with pytest.raises(ValueError):
            check_scope(bad)


async def test_last_use_is_written_at_most_once_a_minute(redis: Redis) -> None:
    clock = Clock(1_000.0)
    keys = ApiKeys(redis, RegistryKeys(), clock=clock)
    key, token = await keys.create("runner", ["project:p1:write"])
    assert (await keys.authenticate(token)) is not None
    clock.now += 59
    assert (await keys.authenticate(token)) is not None
    assert [k.last_used_at for k in await keys.list()] == [1_000.0]
    clock.now += 1
    await keys.authenticate(token)
    assert [k.last_used_at for k in await keys.list()] == [1_060.0]


async def test_a_key_stored_by_a_newer_version_still_reads_and_a_broken_one_fails_closed(redis: Redis) -> None:
    keys = ApiKeys(redis, RegistryKeys())
    key, token = await keys.create("ops", ["operator"])
    hash_name = RegistryKeys().api_keys
    stored = json.loads(await redis.hget(hash_name, key.id) or b"{}")
    await redis.hset(hash_name, key.id, json.dumps({**stored, "expires_at": None}))
    found = await keys.authenticate(token)
    assert found is not None
    assert (found.id, found.scopes, found.revoked) == (key.id, ("operator",), False)
    await redis.hset(hash_name, key.id, b"not json")
    assert await keys.authenticate(token) is None
    assert await keys.list() == []
    assert await keys.revoke(key.id) is False


@pytest.mark.parametrize("token", ["", "hrk_", "hrk_abc_def", "hrk_0123456789abcdef", "hrk_0123456789abcdef_", "x"])
async def test_malformed_tokens_name_no_key(redis: Redis, token: str) -> None:
    assert await ApiKeys(redis, RegistryKeys()).authenticate(token) is None
