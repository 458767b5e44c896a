from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence

import pytest
from redis.asyncio import Redis

from router.settings import Settings
from router.storage.keys import ROUTING_GROUP, Keys
from router.storage.store import EventStore
from subscriptions.registry import Registry
from tests.router.conftest import Seed, make_worker, running, seed_slack, xrange_all
from tests.router.test_ingest import jobs, post_slack, slack_event

pytestmark = pytest.mark.anyio
KEYS = Keys()


async def test_an_event_left_pending_by_a_dead_worker_is_routed_by_another(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_slack(seed)
    async with running(settings) as http:
        [event_id] = (await post_slack(http, slack_event())).json()["ids"]
    # Worker A reads the event and dies before writing or acking anything.
    dead = EventStore(redis, maxlen=1000, group=ROUTING_GROUP, consumer="dead")
    await dead.ensure_group(KEYS.ingest)
    [taken] = await dead.read_new(KEYS.ingest, count=10, block_ms=10)
    assert taken.id == event_id
    survivor = make_worker(redis, registry, consumer="survivor", claim_idle_ms=50)
    assert await survivor.run_once() == 0  # nothing new, and A's entry is not idle long enough yet
    await asyncio.sleep(0.1)
    assert await survivor.run_once() == 1
    [job] = await jobs(redis)
    assert job[b"event_id"].decode() == event_id and job[b"credential"] == b"cred-u1"
    assert (await redis.xpending(KEYS.ingest, ROUTING_GROUP))["pending"] == 0


async def test_a_worker_crash_between_writing_jobs_and_acking_repeats_the_same_job_ids(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_slack(seed)
    async with running(settings) as http:
        await post_slack(http, slack_event())
    first = make_worker(redis, registry, consumer="a", claim_idle_ms=10)

    async def crash(stream: str, ids: Sequence[str]) -> None:
        raise ConnectionError("worker killed before XACK")

    first._store.ack = crash  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await first.run_once()
    await asyncio.sleep(0.02)
    await make_worker(redis, registry, consumer="b", claim_idle_ms=10).run_once()
    ids = [j[b"job_id"] for j in await jobs(redis)]
    assert len(ids) == 2 and ids[0] == ids[1], "a redelivered event must yield the same job id"


async def test_events_handed_out_too_often_are_dead_lettered(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_slack(seed)
    async with running(settings) as http:
        [event_id] = (await post_slack(http, slack_event())).json()["ids"]
    store = EventStore(redis, maxlen=1000, group=ROUTING_GROUP, consumer="flaky")
    await store.ensure_group(KEYS.ingest)
    await store.read_new(KEYS.ingest, count=1, block_ms=10)
    for _ in range(3):  # three more crashed attempts
        await store.claim_stale(KEYS.ingest, min_idle_ms=0)
    worker = make_worker(redis, registry, claim_idle_ms=0, max_deliveries=3)
    assert await worker.run_once() == 0
    dead = await xrange_all(redis, KEYS.ingest_dead)
    assert [f[b"source_id"].decode() for _, f in dead] == [event_id]
    assert await jobs(redis) == []


async def test_retention_trims_events_and_outcomes_older_than_the_window(
    seed: Seed, redis: Redis, registry: Registry
) -> None:
    now = time.time()
    old_ms, new_ms = int((now - 91 * 86400) * 1000), int(now * 1000)
    for ms in (old_ms, old_ms + 1, new_ms):
        await redis.xadd(KEYS.ingest, {"body": b"x"}, id=f"{ms}-0")
        await redis.hset(KEYS.outcomes, f"{ms}-0", json.dumps({"status": "matched"}))
    worker = make_worker(redis, registry, retention_days=90)
    await worker.trim(now)
    assert await redis.hkeys(KEYS.outcomes) == [f"{new_ms}-0".encode()]
    assert [i for i, _ in await xrange_all(redis, KEYS.ingest)] == [f"{new_ms}-0".encode()]


async def ingest_many(settings: Settings, seed: Seed, n: int) -> list[str]:
    await seed_slack(seed)
    ids = []
    async with running(settings) as http:
        for i in range(n):
            ids += (await post_slack(http, slack_event(event_id=f"Ev{i}"))).json()["ids"]
    return ids


async def test_a_pass_routes_full_batches_back_to_back_in_order(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    ids = await ingest_many(settings, seed, 25)
    worker = make_worker(redis, registry, batch=10)
    assert await worker.run_once() == 25  # 10, 10, then a short batch ends the pass
    assert [j[b"event_id"].decode() for j in await jobs(redis)] == ids  # written in read order
    assert (await redis.xpending(KEYS.ingest, ROUTING_GROUP))["pending"] == 0
    assert await worker.run_once() == 0


async def test_a_pass_whose_writes_failed_takes_up_every_batch_it_read_at_once(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    ids = await ingest_many(settings, seed, 25)
    worker = make_worker(redis, registry, batch=10)
    record = worker._outcomes.record
    calls = 0

    async def first_fails(*args: object, **kwargs: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("Redis went away mid-write")
        await record(*args, **kwargs)  # type: ignore[arg-type]

    worker._outcomes.record = first_fails  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await worker.run_once()  # the first batch's writes failed after the second batch was read
    worker.reset()
    routed = 0
    for _ in range(3):  # not after recover_idle_ms: both batches come back on the next passes
        routed += await worker.run_once()
    assert routed == 25
    assert sorted(j[b"event_id"].decode() for j in await jobs(redis)) == sorted(ids)
    assert (await redis.xpending(KEYS.ingest, ROUTING_GROUP))["pending"] == 0
