"""Integration Enabled: one event per credential once it is connected and its required settings are done."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from redis.asyncio import Redis

from router.errors import StoreUnavailable
from router.runtime.lifecycle import LifecycleRunner
from router.settings import Settings
from router.storage.keys import ROUTING_GROUP, Keys
from router.storage.store import EventStore
from subscriptions.enabled import EnabledMarks
from subscriptions.keys import LifecycleKeys
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache
from tests.router.conftest import Seed, make_settings, make_worker, running, xrange_all

pytestmark = pytest.mark.anyio
KEYS = Keys()


def make_runner(redis: Redis, registry: Registry, store: EventStore | None = None) -> LifecycleRunner:
    store = store or EventStore(redis, maxlen=100_000, group=ROUTING_GROUP, consumer="lc")
    return LifecycleRunner(SnapshotCache(registry), store, KEYS, EnabledMarks(redis), None)


async def seed_enabled(seed: Seed, **credential: Any) -> None:
    await seed(
        integration=[{"id": "hs-app", "type": "hubspot"}],
        user=[{"id": "u1"}],
        credential=[{"id": "cred-1", "user": "u1", "integration": "hs-app", "provider_id": "42", **credential}],
        workflow=[
            {"id": "wf-enabled", "integration": "hs-app", "trigger_type": "integration_enabled"},
            {"id": "wf-enabled-2", "integration": "hs-app", "trigger_type": "integration_enabled"},
            {"id": "wf-other", "integration": "hs-app", "trigger": "*"},
            {"id": "wf-off", "integration": "hs-app", "trigger_type": "integration_enabled"},  # not activated
        ],
        activate=[("wf-enabled", "u1"), ("wf-enabled-2", "u1"), ("wf-other", "u1")],
    )


async def jobs(redis: Redis, workflow: str) -> list[dict[bytes, bytes]]:
    return [fields for _, fields in await xrange_all(redis, KEYS.triggers(workflow))]


async def test_fires_once_to_every_integration_enabled_workflow(seed: Seed, redis: Redis, registry: Registry) -> None:
    await seed_enabled(seed)
    runner = make_runner(redis, registry)
    [event_id] = await runner.run_once()
    assert await runner.run_once() == []  # not twice
    [(_, event)] = await xrange_all(redis, KEYS.ingest)
    assert event[b"source"] == b"lifecycle" and event[b"event_type"] == b"integration_enabled"
    assert event[b"credential"] == b"cred-1" and event[b"integration"] == b"hs-app"
    assert json.loads(event[b"body"]) == {"credentialId": "cred-1", "userId": "u1"}
    assert await make_worker(redis, registry).run_once() == 1
    for wf in ("wf-enabled", "wf-enabled-2"):
        [job] = await jobs(redis, wf)
        assert job[b"event_id"].decode() == event_id and job[b"trigger_type"] == b"integration_enabled"
        assert job[b"credential"] == b"cred-1" and job[b"user"] == b"u1"
    assert await jobs(redis, "wf-other") == [] and await jobs(redis, "wf-off") == []
    outcome = json.loads(await redis.hget(KEYS.outcomes, event_id) or b"{}")
    assert outcome["status"] == "matched" and outcome["skipped"] == {"workflow_not_activated": 1}


async def test_waits_for_the_required_user_settings(seed: Seed, redis: Redis, registry: Registry) -> None:
    await seed_enabled(seed, settings_complete=False)
    runner = make_runner(redis, registry)
    assert await runner.run_once() == []
    await seed_enabled(seed, settings_complete=True)
    assert len(await runner.run_once()) == 1


@pytest.mark.parametrize(
    ("credential", "user"), [({"status": "INVALID"}, {}), ({}, {"disabled": True})], ids=["invalid", "user_disabled"]
)
async def test_never_for_an_invalid_credential_or_a_disabled_user(
    seed: Seed, redis: Redis, registry: Registry, credential: dict[str, Any], user: dict[str, Any]
) -> None:
    await seed_enabled(seed, **credential)
    await seed(user=[{"id": "u1", **user}])
    runner = make_runner(redis, registry)
    assert await runner.run_once() == []
    assert await redis.xlen(KEYS.ingest) == 0


async def test_nothing_is_stored_until_a_workflow_listens(seed: Seed, redis: Redis, registry: Registry) -> None:
    await seed_enabled(seed)
    for wf in ("wf-enabled", "wf-enabled-2"):
        await seed(activation=[{"id": f"{wf}:u1", "workflow": wf, "user": "u1", "enabled": False}])
    runner = make_runner(redis, registry)
    assert await runner.run_once() == []
    assert await redis.xlen(KEYS.ingest) == 0
    await seed(activate=[("wf-enabled", "u1")])
    assert len(await runner.run_once()) == 1


async def test_concurrent_runners_fire_once(seed: Seed, redis: Redis, registry: Registry) -> None:
    await seed_enabled(seed)
    results = await asyncio.gather(*(make_runner(redis, registry).run_once() for _ in range(4)))
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    assert await redis.xlen(KEYS.ingest) == 1


async def test_reconnecting_a_removed_credential_fires_again(seed: Seed, redis: Redis, registry: Registry) -> None:
    await seed_enabled(seed)
    runner = make_runner(redis, registry)
    assert len(await runner.run_once()) == 1
    await registry.delete("credential", "cred-1")
    assert await runner.run_once() == []
    assert not await redis.sismember(LifecycleKeys().enabled, "cred-1")
    await seed_enabled(seed)
    assert len(await runner.run_once()) == 1


async def test_an_event_that_could_not_be_stored_is_tried_again(
    seed: Seed, redis: Redis, registry: Registry, tmp_path: Any
) -> None:
    await seed_enabled(seed)
    dead = Redis.from_url(f"unix://{tmp_path}/nothing.sock")
    broken = EventStore(dead, maxlen=1000, group=ROUTING_GROUP, consumer="lc")
    with pytest.raises(StoreUnavailable):
        await make_runner(redis, registry, broken).run_once()
    await dead.aclose()
    assert not await redis.sismember(LifecycleKeys().enabled, "cred-1")  # the claim was given back
    assert len(await make_runner(redis, registry).run_once()) == 1


async def test_the_app_runs_the_lifecycle_with_its_workers(seed: Seed, redis: Redis, redis_url: str) -> None:
    await seed_enabled(seed)
    settings: Settings = make_settings(redis_url, run_workers=True, lifecycle_interval_s=0.05, route_block_ms=10)
    async with running(settings):
        for _ in range(200):
            if await jobs(redis, "wf-enabled"):
                break
            await asyncio.sleep(0.02)
    [job] = await jobs(redis, "wf-enabled")
    assert job[b"trigger_type"] == b"integration_enabled"
    assert await redis.xlen(KEYS.ingest) == 1
