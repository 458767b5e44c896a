"""``claim_every_ms``: a reader looks for a dead consumer's entries on its first pass, again on the pass after a
look that found some, and otherwise only once the interval has passed (or after a failed pass)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from router.storage.consumer import GroupReader
from router.storage.redis_client import decoded
from router.storage.store import EventStore

pytestmark = pytest.mark.anyio
STREAM = "test:claims"


def reader(redis: Redis, consumer: str, *, count: int = 10) -> GroupReader:
    store = EventStore(redis, maxlen=10_000, group="g", consumer=consumer)
    return GroupReader(store, STREAM, count=count, block_ms=0, claim_idle_ms=0, claim_every_ms=3_600_000)


async def dead_consumer_takes(redis: Redis, n: int) -> list[str]:
    ids = [decoded(await redis.xadd(STREAM, {"n": i})) for i in range(n)]
    assert [e.id for e in (await reader(redis, "dead").next()).events] == ids
    return ids


async def test_stale_entries_are_looked_for_at_first_then_after_the_interval_or_a_reset(redis: Redis) -> None:
    first = await dead_consumer_takes(redis, 3)
    alive = reader(redis, "alive", count=2)
    batch = await alive.next()
    assert [e.id for e in batch.events] == first[:2] and batch.redelivered
    await alive.store.ack(STREAM, first[:2])  # done with (idle 0: else they would be "stale" again)
    batch = await alive.next()  # the last look found some: look again at once
    assert [e.id for e in batch.events] == first[2:] and batch.redelivered
    await alive.store.ack(STREAM, first[2:])
    assert (await alive.next()).events == []  # a look that found none: the next is an hour away
    later = await dead_consumer_takes(redis, 1)
    assert (await alive.next()).events == []  # stale (idle 0 is enough), and not looked for yet
    alive.reset()  # a failed pass: look again at once
    batch = await alive.next()
    assert [e.id for e in batch.events] == later and batch.redelivered
