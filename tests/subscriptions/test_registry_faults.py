"""The registry when Redis or its records misbehave: unreadable records, an emptied Redis, a wrong master key."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from redis.asyncio import Redis

from subscriptions.crypto import SecretBox
from subscriptions.errors import SecretError, UnreadableRecord
from subscriptions.keys import RegistryKeys
from subscriptions.models import ConnectedUser, Integration
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache
from tests.subscriptions.test_crypto import _sealed_before

pytestmark = pytest.mark.anyio

KEY = base64.b64decode(base64.b64encode(bytes(range(32))))
KEYS = RegistryKeys()


def integration(record_id: str) -> Integration:
    return Integration.model_validate({"id": record_id, "project": "p1", "type": "slack", "secrets": ["s"]})


@pytest.fixture
def registry(redis: Redis) -> Registry:
    return Registry(redis, SecretBox(KEY))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff not json", "invalid_json"),
        (b"[1, 2]", "invalid_json"),
        (b'{"id": "x", "type": 7}', "invalid_record"),
        (
            b'{"id": "x", "project": "p1", "type": "slack", "secrets": [{"$sealed": "hr1.AAAA.BBBB"}]}',
            "undecryptable_secret",
        ),
    ],
)
async def test_an_unreadable_record_is_skipped_and_named(
    registry: Registry, redis: Redis, raw: bytes, reason: str
) -> None:
    await registry.put(integration("good"))
    await redis.hset(KEYS.records("integration"), "x", raw)
    _, records = await registry.load()
    assert [r.model_dump()["id"] for r in records["integration"]] == ["good"]
    assert registry.unreadable == {"integration:x": reason}
    with pytest.raises(UnreadableRecord) as info:
        await registry.get("integration", "x")
    assert (info.value.key, info.value.reason) == ("integration:x", reason)
    assert [r.model_dump()["id"] for r in await registry.all("integration")] == ["good"]


async def test_each_unreadable_value_is_logged_once_without_its_content(
    registry: Registry, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    await redis.hset(KEYS.records("user"), "u9", b'{"id": "u9", "secret-ish": "do-not-log-me", "disabled": "maybe"}')
    with caplog.at_level(logging.ERROR, logger="subscriptions.registry"):
        for _ in range(5):
            await registry.load()
        await redis.hset(KEYS.records("user"), "u9", b'{"id": "u9", "disabled": "still not a bool"}')
        await registry.load()  # a different bad value: told again
    logged = [r for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(logged) == 2
    assert all("do-not-log-me" not in r.getMessage() + str(r.__dict__) for r in logged)
    assert getattr(logged[0], "key") == KEYS.records("user")  # noqa: B009 - set through `extra`


async def test_a_fixed_record_leaves_the_unreadable_list_and_put_replaces_a_bad_one(
    registry: Registry, redis: Redis
) -> None:
    await redis.hset(KEYS.records("user"), "u1", b"{")
    await registry.load()
    assert registry.unreadable == {"user:u1": "invalid_json"}
    assert await registry.put(ConnectedUser.model_validate({"id": "u1", "project": "p1"})) == "updated"
    await registry.load()
    assert registry.unreadable == {}


async def test_a_registry_emptied_and_written_again_is_reloaded_even_at_the_same_version(
    registry: Registry, redis: Redis
) -> None:
    await registry.put(integration("before-1"))
    await registry.put(integration("before-2"))
    cache = SnapshotCache(registry)
    assert set((await cache.refresh()).integrations) == {"before-1", "before-2"}
    await redis.flushall()
    await registry.put(integration("after-1"))
    await registry.put(integration("after-2"))
    assert await registry.version() == cache.current.version  # the counter landed where it was
    assert set((await cache.refresh()).integrations) == {"after-1", "after-2"}


async def test_a_process_with_another_master_key_refuses_to_start(registry: Registry, redis: Redis) -> None:
    await registry.check_master_key()
    await registry.check_master_key()  # the same key, again: fine
    with pytest.raises(SecretError):
        await Registry(redis, SecretBox(bytes(32))).check_master_key()


async def test_a_sealed_secret_copied_onto_a_record_whose_parts_join_the_same_does_not_open(
    registry: Registry, redis: Redis
) -> None:
    # Record "b:c" of project "a" and record "c" of project "a:b" joined to the same associated data.
    source = Integration.model_validate({"id": "b:c", "project": "a", "type": "slack", "secrets": ["s3cret"]})
    await registry.put(source)
    stolen = json.loads(await redis.hget(KEYS.records("integration"), "b:c") or b"{}")["secrets"]
    target = {"id": "c", "project": "a:b", "type": "slack", "secrets": stolen}
    await redis.hset(KEYS.records("integration"), "c", json.dumps(target))
    with pytest.raises(UnreadableRecord) as info:
        await registry.get("integration", "c")
    assert info.value.reason == "undecryptable_secret"


async def test_secrets_sealed_before_open_and_are_sealed_again_on_the_next_put(
    registry: Registry, redis: Redis
) -> None:
    old = {
        "id": "i1",
        "project": "p1",
        "type": "slack",
        "secrets": [{"$sealed": _sealed_before("s", "integration:p1:i1")}],
    }
    await redis.hset(KEYS.records("integration"), "i1", json.dumps(old))
    stored = await registry.get("integration", "i1")
    assert isinstance(stored, Integration) and stored.secrets[0].get_secret_value() == "s"
    assert await registry.put(integration("i1")) == "unchanged"
    raw = json.loads(await redis.hget(KEYS.records("integration"), "i1") or b"{}")
    assert raw["secrets"][0]["$sealed"].startswith("hr2.")
    again = await registry.get("integration", "i1")
    assert isinstance(again, Integration) and again.secrets[0].get_secret_value() == "s"
