"""Redis round trips timed by operation: every command and pipeline of the client ``connect`` hands out, once each,
under the operation in hand; blocking reads left out. ``tests/cluster/test_cluster_client.py`` runs the same on
a cluster."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from router import metrics
from router.runtime.supervisor import operation_of
from router.storage import timing
from router.storage.redis_client import connect

pytestmark = pytest.mark.anyio


def timed(operation: str) -> float:
    samples = (s for family in metrics.REDIS_SECONDS.collect() for s in family.samples)
    return sum(s.value for s in samples if s.name.endswith("_count") and s.labels["operation"] == operation)


async def time_every_kind_of_round_trip(client: Redis) -> dict[str, float]:
    """Commands, a pipeline, a script, a non-blocking and a blocking read, under "replay"; a command under a name
    outside the set; one in a task started inside the block. Returns how many each operation counted."""
    script = client.register_script("return redis.call('GET', KEYS[1])")
    await client.script_load(script.script)  # loaded beforehand: its EVALSHA is one round trip, never two
    names = ("replay", "other", "poll")
    before = {name: timed(name) for name in names}
    with timing.operation("replay"):
        await client.set("{t}:k", "v")  # 1
        async with client.pipeline(transaction=False) as pipe:  # 2: one round trip, however many commands
            pipe.get("{t}:k")
            pipe.get("{t}:k")
            await pipe.execute()
        assert await script(keys=["{t}:k"]) == b"v"  # 3
        await client.xgroup_create("{t}:s", "g", id="0", mkstream=True)  # 4
        await client.xadd("{t}:s", {"f": "v"})  # 5
        await client.xreadgroup("g", "c", {"{t}:s": ">"}, count=1)  # 6: a read that does not wait
        await client.xreadgroup("g", "c", {"{t}:s": ">"}, count=1, block=20)  # waits for entries: not observed
    with timing.operation("no-such-operation"):
        await client.get("{t}:k")

    async def read() -> None:
        await client.get("{t}:k")

    with timing.operation("poll"):
        await asyncio.create_task(read())  # a task started in the block inherits its operation
    return {name: timed(name) - before[name] for name in names}


async def test_every_round_trip_is_timed_once_under_the_operation_in_hand(redis_url: str) -> None:
    client = connect(redis_url)
    try:
        counted = await time_every_kind_of_round_trip(client)
    finally:
        await client.aclose()
    assert counted == {"replay": 6, "other": 1, "poll": 1}


async def test_an_empty_pipeline_sends_nothing_and_counts_nothing(redis_url: str) -> None:
    client = connect(redis_url)
    try:
        before = timed("trim")
        with timing.operation("trim"):
            async with client.pipeline(transaction=False) as pipe:
                assert await pipe.execute() == []
        assert timed("trim") == before
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("task", "operation"),
    [
        ("routing", "route"),
        ("routing-3", "route"),
        ("delivery-12", "deliver"),
        ("destination-fanout", "notify"),
        ("acked-trim", "trim"),
        ("registry-refresh", "registry"),
        ("replay", "replay"),
        ("something-new", "other"),
        ("routing-x", "other"),
    ],
)
def test_a_loop_counts_under_its_owner(task: str, operation: str) -> None:
    assert operation_of(task) == operation
    assert operation in timing.OPERATIONS
