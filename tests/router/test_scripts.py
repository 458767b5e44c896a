"""Lua scripts queued in pipelines on one Redis: sent as EVALSHA without asking SCRIPT EXISTS first, and run
exactly once when the server does not hold them (never loaded, or lost in a restart)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from router.storage import scripts
from router.storage.store import Append, EventStore, Once
from tests.router.conftest import xrange_all

pytestmark = pytest.mark.anyio

ECHO_AND_COUNT = "redis.call('INCR', KEYS[1]) return ARGV[1]"


async def run_batch(redis: Redis) -> list[object]:
    script = redis.register_script(ECHO_AND_COUNT)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.incr("{t}:plain")
        await scripts.queue(script, pipe, keys=["{t}:count"], args=["a"])
        pipe.incr("{t}:plain")
        await scripts.queue(script, pipe, keys=["{t}:count"], args=["b"])
        return await scripts.execute(pipe)


async def test_a_lost_script_runs_once_and_its_neighbours_once(redis: Redis) -> None:
    await redis.script_flush()  # as after a restart: the server holds no script
    assert await run_batch(redis) == [1, b"a", 2, b"b"]
    await redis.script_flush()
    assert await run_batch(redis) == [3, b"a", 4, b"b"]
    assert await redis.mget("{t}:count", "{t}:plain") == [b"4", b"4"]  # every command ran exactly once


async def test_a_loaded_script_costs_no_script_exists(redis: Redis) -> None:
    await run_batch(redis)  # loads it
    await redis.config_resetstat()
    await run_batch(redis)
    stats = await redis.info("commandstats")
    assert "cmdstat_script|exists" not in stats
    assert stats["cmdstat_evalsha"]["calls"] == 2


async def test_deduplication_holds_after_the_server_lost_the_script(redis: Redis) -> None:
    store = EventStore(redis, maxlen=10_000, group="routing", consumer="a")
    stream = "test:{ingest}:events"
    once = Once("test:{ingest}:seen:1", 60, "test:{ingest}:duplicates", "i")
    first = await store.add(Append(stream, {"body": b"one"}, once))
    await redis.script_flush()
    repeat = await store.add(Append(stream, {"body": b"one"}, once))
    assert not first.duplicate and repeat.duplicate and repeat.id == first.id
    assert len(await xrange_all(redis, stream)) == 1
