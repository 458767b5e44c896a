"""Routing files a whole batch in one script call (one ZADD per index key inside it, the statuses of every event):
the history it leaves is exactly what filing each event on its own (a ZADD per key, the one-event status script)
leaves, for events filed the first time, for events whose jobs were settled or reported before routing, and for
events routed a second time."""

from __future__ import annotations

import random
from typing import Any

import pytest
from redis.asyncio import Redis

from router.history import indexes
from router.history.indexes import Indexed, queue_indexed
from router.storage import scripts
from router.storage.entries import IngestEvent
from router.storage.keys import Keys, trigger_job_id
from router.storage.redis_client import decoded
from router.storage.store import EventStore

pytestmark = pytest.mark.anyio


OWNERS = [("wf-1", "u1"), ("wf-2", "u1"), ("wf-1", "u2"), ("wf/3", "u:3")]  # (workflow, user) pairs


def store(redis: Redis) -> EventStore:
    return EventStore(redis, maxlen=1000, group="routing", consumer="test")


def data(seed: float) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible test data, not secrets


def _events(rng: random.Random, n: int) -> list[Indexed]:
    out = []
    for i in range(n):
        event_id = f"{1_700_000_000_000 + i // 3}-{i % 3}"
        event = IngestEvent(
            source="webhook",
            project=rng.choice(["p1", "p2", ""]),
            integration=rng.choice(["slack-app", "hub:spot", ""]),
            integration_type=rng.choice(["slack", "hubspot", ""]),
            provider_id=rng.choice(["T1", "T 2", ""]),
            credential=rng.choice(["", "cred-url"]),
            event_type=rng.choice(["message", "deal.created", ""]),
        )
        jobs = [
            {"job_id": trigger_job_id(event_id, wf, user), "workflow": wf, "credential": f"cred-{user}", "user": user}
            for wf, user in rng.sample(
                [("wf-1", "u1"), ("wf-2", "u1"), ("wf-1", "u2"), ("wf/3", "u:3")], rng.randint(0, 3)
            )
        ]
        status = "dead" if not jobs and rng.random() < 0.2 else ("routed" if jobs else "unmatched")
        out.append(Indexed(event_id, event, jobs, status))
    return out


async def _one_by_one(redis: Redis, keys: Keys, items: list[Indexed], http_jobs: set[str]) -> None:
    """How routing filed events before batches: per event a ZADD per key and the one-event script (ARGV 4 "1")."""
    script = redis.register_script(indexes._STATUS)
    async with redis.pipeline(transaction=False) as pipe:
        registry = set(indexes._fixed_keys(keys))
        for item in items:
            at = indexes.score(item.event_id)
            for key in indexes._event_keys_of(keys, item.event, item.jobs):
                registry.add(key)
                pipe.zadd(key, {item.event_id: at})
            for job in item.jobs:
                for key in indexes._job_keys(keys, job, item.event):
                    registry.add(key)
                    pipe.zadd(key, {job["job_id"]: at})
            http = [j["job_id"] for j in item.jobs if j["job_id"] in http_jobs]
            streamed = [j["job_id"] for j in item.jobs if j["job_id"] not in http_jobs]
            pairs = [x for job_id in http for x in (job_id, "queued")]
            args: list[Any] = [item.event_id, at, item.status, "1", len(http), *pairs, *streamed]
            await scripts.queue(script, pipe, keys=indexes._status_keys(keys, item.event_id), args=args)
        pipe.sadd(keys.index_registry, *registry)
        await scripts.execute(pipe)


async def _settle_some(redis: Redis, keys: Keys, rng: random.Random, items: list[Indexed], http: set[str]) -> None:
    """Deliveries settled and runners' reports that came in before (or between) routings, as the workers file them."""
    script = redis.register_script(indexes._STATUS)
    for item in items:
        for job in item.jobs:
            if rng.random() < 0.4:
                status = rng.choice(["delivered", "failed", "dead", "queued"]) if job["job_id"] in http else "delivered"
                args: list[str | int] = [item.event_id, indexes.score(item.event_id), "", "0", 1, job["job_id"], status]
                await script(keys=indexes._status_keys(keys, item.event_id), args=args)


async def _dump(redis: Redis, keys: Keys) -> dict[str, Any]:
    out: dict[str, Any] = {}
    prefix = keys.prefix + ":"
    async for raw in redis.scan_iter(match=prefix + "*"):
        key = decoded(raw)
        kind = decoded(await redis.type(key))
        if kind == "zset":
            rows: list[Any] = await redis.zrange(key, 0, -1, withscores=True)
            value: Any = sorted((decoded(row[0]), row[1]) for row in rows)
        elif kind == "hash":
            value = {decoded(k): decoded(v) for k, v in (await redis.hgetall(key)).items()}
        else:
            value = sorted(decoded(m).removeprefix(prefix) for m in await redis.smembers(key))  # the registry
        out[key[len(prefix) :]] = value
    return out


async def test_a_batch_is_filed_exactly_as_its_events_one_by_one_first_time_settled_and_routed_again(
    redis: Redis,
) -> None:
    rng = data(7)
    items = _events(rng, 120)
    http = {j["job_id"] for item in items for j in item.jobs if rng.random() < 0.5}
    batched, single = Keys("batched"), Keys("single")
    settle_rng = data(11)
    for round_ in range(3):  # routed, then settled in part, then routed again (a crash before the ack), ...
        seed = settle_rng.random()
        # First time round, half the events have jobs settled or reported before routing files them; the other
        # half are new to the index (the script's shortcut).
        settled = items if round_ else items[: len(items) // 2]
        for keys in (batched, single):  # the same settles on both sides: one seed per round
            await _settle_some(redis, keys, data(seed), settled, http)
        async with redis.pipeline(transaction=False) as pipe:
            await queue_indexed(store(redis), pipe, batched, items, http)
            await scripts.execute(pipe)
        await _one_by_one(redis, single, items, http)
        assert await _dump(redis, batched) == await _dump(redis, single)
    assert await _dump(redis, batched), "nothing was filed"
    statuses = {decoded(m) for m in await redis.zrange(batched.event_index("status", "delivered"), 0, -1)}
    assert statuses, "no event reached delivered: the settles did not run"


async def test_a_batch_of_one_dead_lettered_event_is_filed_dead(redis: Redis) -> None:
    keys = Keys("dead")
    item = Indexed("1700000000000-5", IngestEvent(source="webhook", project="p1", integration="slack-app"), (), "dead")
    async with redis.pipeline(transaction=False) as pipe:
        await queue_indexed(store(redis), pipe, keys, [item], ())
        await scripts.execute(pipe)
    assert await redis.zscore(keys.event_index("status", "dead"), item.event_id) == indexes.score(item.event_id)
    assert await redis.zscore(keys.event_index("project", "p1"), item.event_id) is not None
    assert await redis.zscore(keys.event_index("status", "unmatched"), item.event_id) is None


async def test_a_batch_larger_than_one_lua_call_takes_is_filed_whole(redis: Redis) -> None:
    # 4,000 events of one project: 8,000 score and member arguments for one set, more than Lua's unpack takes at once.
    keys, single = Keys("large"), Keys("large-single")
    items = [
        Indexed(f"{1_700_000_000_000 + i}-0", IngestEvent(source="webhook", project="p1", integration="slack-app"))
        for i in range(4000)
    ]
    async with redis.pipeline(transaction=False) as pipe:
        await queue_indexed(store(redis), pipe, keys, items, ())
        await scripts.execute(pipe)
    await _one_by_one(redis, single, items, set())
    assert await redis.zcard(keys.event_index("project", "p1")) == 4000
    assert await _dump(redis, keys) == await _dump(redis, single)
