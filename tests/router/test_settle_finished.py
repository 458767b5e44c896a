"""A delivery batch whose every job finished settles in one script (``_SETTLE_FINISHED``): what it leaves in Redis is
exactly what the MULTI of per-job commands leaves (job hashes gone, scheduled and ordered queues cleared of the
job, histories written with their TTL, the entries acked), and a batch with a retry or a dead letter in it still
goes through the MULTI."""

from __future__ import annotations

import random
from typing import Any

import pytest
from redis.asyncio import Redis

from router.storage.redis_client import decoded
from router.storage.store import EventStore, Settle

pytestmark = pytest.mark.anyio

GROUP = "delivery"


async def _pending_batch(redis: Redis, prefix: str, rng: random.Random, n: int) -> tuple[EventStore, list[str]]:
    """A stream with ``n`` entries read by the group (pending), some job hashes, scheduled ids and ordered queues."""
    stream = f"{prefix}:jobs"
    await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    for i in range(n):
        await redis.xadd(stream, {"job_id": f"j{i}"})
        if rng.random() < 0.5:
            await redis.hset(f"{prefix}:job:j{i}", mapping={"attempts": "[]", "body": b"\xff\x00"})
        if rng.random() < 0.3:
            await redis.zadd(f"{prefix}:scheduled", {f"j{i}": 5.0})
        if rng.random() < 0.3:
            await redis.zadd(f"{prefix}:order:{i % 3}", {f"j{i}": float(i), "other": 0.0})
    await redis.zadd(f"{prefix}:scheduled", {"unrelated": 1.0})
    read: Any = await redis.xreadgroup(GROUP, "w1", {stream: ">"})
    ids = [decoded(entry_id) for entry_id, _ in read[0][1]]
    return EventStore(redis, maxlen=1000, group=GROUP, consumer="w1"), ids


def _finished(prefix: str, rng: random.Random, i: int) -> Settle:
    return Settle(
        f"j{i}",
        {},
        scheduled=f"{prefix}:scheduled" if rng.random() < 0.8 else "",
        job_key=f"{prefix}:job:j{i}",
        history_key=f"{prefix}:history:j{i}",
        history={"status": "delivered", "reason": "", "attempts": '[{"status":200}]', "at": 1700000000.25 + i},
        history_ttl_s=rng.choice([60, 7_776_000]),
        release_order=f"{prefix}:order:{i % 3}" if rng.random() < 0.4 else "",
    )


async def _dump(redis: Redis, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async for raw in redis.scan_iter(match=prefix + ":*"):
        key = decoded(raw)
        kind = decoded(await redis.type(key))
        name = key[len(prefix) :]
        if kind == "zset":
            out[name] = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "hash":
            ttl = await redis.ttl(key)
            out[name] = (await redis.hgetall(key), ttl > 0 and round(ttl / 100))
        else:
            pending = await redis.xpending(key, GROUP)
            out[name] = (await redis.xlen(key), pending["pending"])
    return out


async def test_a_finished_batch_leaves_what_the_multi_leaves(redis: Redis) -> None:
    for seed in range(4):
        got: list[dict[str, Any]] = []
        for prefix, multi in ((f"script{seed}", False), (f"multi{seed}", True)):
            rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
            store, ids = await _pending_batch(redis, prefix, rng, 30)
            settled = [(entry_id, _finished(prefix, rng, i)) for i, entry_id in enumerate(ids)]
            settled.append(settled[3])  # a job settled twice in one batch (a duplicate entry)
            if multi:
                await store._settle_multi(f"{prefix}:jobs", settled)
            else:
                await store.settle_many(f"{prefix}:jobs", settled)
            got.append(await _dump(redis, prefix))
        assert got[0] == got[1]
        assert got[0][":jobs"] == (30, 0)  # every entry acked
        assert not [k for k in got[0] if k.startswith(":job:")]  # every job hash gone


async def test_a_batch_with_a_retry_or_a_dead_letter_goes_through_the_multi(redis: Redis) -> None:
    rng = random.Random(1)  # noqa: S311 - reproducible test data, not secrets
    store, ids = await _pending_batch(redis, "mixed", rng, 3)
    retry = Settle("j1", {"attempts": b"[]"}, scheduled="mixed:scheduled", job_key="mixed:job:j1", retry_at=99.0)
    dead = Settle("j2", {"body": b"x"}, job_key="mixed:job:j2", dead_stream="mixed:dead", history_key="mixed:h:j2")
    settled = [(ids[0], _finished("mixed", rng, 0)), (ids[1], retry), (ids[2], dead)]
    await store.settle_many("mixed:jobs", settled)
    assert await redis.zscore("mixed:scheduled", "j1") == 99.0
    assert await redis.hget("mixed:job:j1", "attempts") == b"[]"
    assert await redis.xlen("mixed:dead") == 1
    assert await redis.hget("mixed:history:j0", "status") == b"delivered"
    assert (await redis.xpending("mixed:jobs", GROUP))["pending"] == 0
