"""Reading a stream in a consumer group (router.storage.consumer), against a real Redis."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from router.storage.consumer import GroupReader
from router.storage.redis_client import decoded
from router.storage.store import EventStore

pytestmark = pytest.mark.anyio

STREAM = "test:stream"


def reader(
    redis: Redis, consumer: str = "c1", *, claim_idle_ms: int = 60_000, recover_idle_ms: int | None = None
) -> GroupReader:
    store = EventStore(redis, maxlen=10_000, group="g", consumer=consumer)
    return GroupReader(
        store, STREAM, count=10, block_ms=0, claim_idle_ms=claim_idle_ms, recover_idle_ms=recover_idle_ms
    )


async def add(redis: Redis, n: int) -> list[str]:
    return [decoded(await redis.xadd(STREAM, {"n": i})) for i in range(n)]


async def test_new_entries_then_nothing(redis: Redis) -> None:
    ids = await add(redis, 3)
    r = reader(redis)
    batch = await r.next()
    assert [e.id for e in batch.events] == ids and not batch.redelivered
    assert (await r.next()).events == []


async def test_after_a_failed_pass_the_batch_in_hand_is_taken_up_again_at_once(redis: Redis) -> None:
    ids = await add(redis, 3)
    r = reader(redis)
    await r.next()
    await r.store.ack(STREAM, ids[:1])  # the pass got as far as one ack, then failed
    r.reset()
    again = await r.next()
    assert [e.id for e in again.events] == ids[1:] and again.redelivered
    counts = await r.store.times_delivered(STREAM, ids[1:])
    assert counts == {ids[1]: 2, ids[2]: 2}  # counted, so poison is dead-lettered in the end
    assert (await r.next()).events == []


async def test_a_twin_with_the_same_consumer_name_does_not_take_work_in_progress(redis: Redis) -> None:
    await add(redis, 2)
    busy, twin = reader(redis), reader(redis)  # serve and worker on one host, both named after it
    assert len((await busy.next()).events) == 2
    twin.reset()  # the twin fails a pass: it has nothing in hand, so it takes nothing
    assert (await twin.next()).events == []


async def test_entries_of_a_dead_consumer_are_claimed_once_idle(redis: Redis) -> None:
    ids = await add(redis, 2)
    await reader(redis, "dead").next()
    alive = reader(redis, "alive", claim_idle_ms=0)
    batch = await alive.next()
    assert [e.id for e in batch.events] == ids and batch.redelivered


async def test_a_flushed_redis_gets_its_group_back_after_reset(redis: Redis) -> None:
    r = reader(redis)
    await add(redis, 1)
    await r.next()
    await redis.flushall()
    with pytest.raises(ResponseError, match="NOGROUP"):
        await r.next()
    r.reset()
    assert (await r.next()).events == []  # the group is back; what was in hand is gone with the data
    [new] = await add(redis, 1)
    assert [e.id for e in (await r.next()).events] == [new]


async def test_entries_of_a_read_whose_reply_was_lost_are_taken_up_once_idle_enough(redis: Redis) -> None:
    [lost] = await add(redis, 1)
    r = reader(redis, recover_idle_ms=50)
    await r.store.ensure_group(STREAM)
    # Redis handed the entry to this consumer, but the reply never arrived (the read's deadline passed first).
    await r.store.read_new(STREAM, count=10, block_ms=0)
    r.reset()
    assert (await r.next()).events == []  # not idle long enough yet: it could be a same-named twin's
    await asyncio.sleep(0.1)
    batch = await r.next()
    assert [e.id for e in batch.events] == [lost] and batch.redelivered


async def test_a_starting_twin_does_not_take_work_in_progress_under_the_name(redis: Redis) -> None:
    await add(redis, 1)
    twin = reader(redis, recover_idle_ms=60_000)  # just started: it looks for what a previous run left
    await reader(redis).next()  # the other process with the same name is working on it
    assert (await twin.next()).events == []


async def test_a_restarted_reader_takes_up_the_batch_its_previous_run_left_pending_once_idle_enough(
    redis: Redis,
) -> None:
    ids = await add(redis, 2)
    stopped = reader(redis, recover_idle_ms=50)
    await stopped.next()
    stopped.reset()  # its pass failed (Redis away), and the process stopped before the retry
    restarted = reader(redis, recover_idle_ms=50)  # the next run, under the same name
    assert (await restarted.next()).events == []  # not idle long enough yet: it could be a same-named twin's
    await asyncio.sleep(0.1)
    batch = await restarted.next()
    assert [e.id for e in batch.events] == ids and batch.redelivered
    assert (await restarted.next()).events == []
