from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from router.storage.store import EventStore
from tests.router.conftest import xrange_all

pytestmark = pytest.mark.anyio
STREAM = "test:{ingest}:events"


def store(redis: Redis, consumer: str = "a") -> EventStore:
    return EventStore(redis, maxlen=10_000, group="routing", consumer=consumer)


async def test_unacked_events_are_reclaimed_by_another_consumer(redis: Redis) -> None:
    a, b = store(redis, "a"), store(redis, "b")
    await a.ensure_group(STREAM)
    await a.ensure_group(STREAM)  # idempotent: BUSYGROUP is swallowed, nothing else is
    await a.append(STREAM, {"body": b"one"})
    [event] = await a.read_new(STREAM, count=10, block_ms=10)  # a "crashes" without acking
    assert await b.read_new(STREAM, count=10, block_ms=10) == []
    [reclaimed] = await b.claim_stale(STREAM, min_idle_ms=0)
    assert reclaimed == event
    assert await b.times_delivered(STREAM, [event.id]) == {event.id: 2}
    await b.ack(STREAM, [event.id])
    assert await a.claim_stale(STREAM, min_idle_ms=0) == []


async def test_recently_read_events_are_not_reclaimed(redis: Redis) -> None:
    a, b = store(redis, "a"), store(redis, "b")
    await a.ensure_group(STREAM)
    await a.append(STREAM, {"body": b"one"})
    await a.read_new(STREAM, count=10, block_ms=10)
    assert await b.claim_stale(STREAM, min_idle_ms=60_000) == []


async def test_concurrent_appends_share_round_trips_and_each_gets_its_own_id(redis: Redis) -> None:
    s = store(redis)
    ids = await asyncio.gather(*(s.append(STREAM, {"n": n}) for n in range(500)))
    assert len(set(ids)) == 500
    assert s.round_trips <= 3, f"500 concurrent appends took {s.round_trips} round trips"
    stored = await xrange_all(redis, STREAM)
    # Each caller got the id of its own entry, not a neighbour's.
    assert {i.decode(): int(f[b"n"]) for i, f in stored} == {i: n for n, i in enumerate(ids)}


async def test_binary_bodies_are_stored_byte_for_byte(redis: Redis) -> None:
    s = store(redis)
    raw = bytes(range(256)) * 4
    entry_id = await s.append(STREAM, {"body": raw})
    event = await s.get(STREAM, entry_id)
    assert event is not None and event.fields["body"] == raw


async def test_dead_letter_moves_the_entry_with_its_reason(redis: Redis) -> None:
    s = store(redis)
    await s.ensure_group(STREAM)
    await s.append(STREAM, {"body": b"x"})
    [event] = await s.read_new(STREAM, count=1, block_ms=10)
    await s.dead_letter(STREAM, "test:{ingest}:dead", event, "max_deliveries")
    [dead] = await s.latest("test:{ingest}:dead", 1)
    assert dead.fields["body"] == b"x" and dead.fields["dead_reason"] == b"max_deliveries"
    assert dead.fields["source_id"].decode() == event.id
    assert (await redis.xpending(STREAM, "routing"))["pending"] == 0


async def test_trim_before_drops_older_entries_only(redis: Redis) -> None:
    s = store(redis)
    old = [await s.append(STREAM, {"n": n}) for n in range(3)]
    await asyncio.sleep(0.005)
    new = await s.append(STREAM, {"n": 3})
    assert await s.trim_before(STREAM, new, approximate=False) == 3
    assert [e.id for e in await s.latest(STREAM, 10)] == [new]
    assert [await s.get(STREAM, i) for i in old] == [None, None, None]


async def test_trim_outcomes_drops_outcomes_of_older_events_only(redis: Redis) -> None:
    s = store(redis)
    await redis.hset("outcomes", mapping={"100-0": "a", "100-5": "b", "200-0": "c", "300-1": "d"})
    assert await s.trim_outcomes("outcomes", "200-0") == 2
    assert sorted(await redis.hkeys("outcomes")) == [b"200-0", b"300-1"]


@pytest.mark.parametrize("bad", ["", "1", "١-٢", "18446744073709551616-0", "1-2-3", "x"])
async def test_get_answers_none_for_what_is_no_stream_id(redis: Redis, bad: str) -> None:
    # Ids come from request parameters; Redis would refuse these, and a refused command is a 500.
    events = store(redis)
    await events.append(STREAM, {"body": b"x"})
    assert await events.get(STREAM, bad) is None
