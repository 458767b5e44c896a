"""Bounded storage against a real Redis: acknowledged entries are trimmed, a job's body is stored once however often
it is retried, retention reaches every stream; and retries come back to work at their due time, not a poll's."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from router.delivery.retry import RetryPolicy
from router.delivery.runner import RunnerClient
from router.delivery.worker import DeliveryWorker
from router.runtime.trimming import AckedTrim, Retention, RetentionConfig
from router.settings import Settings
from router.storage.keys import RUNNER_GROUP, Keys
from router.storage.store import EventStore
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache
from tests.router.conftest import Seed, make_worker, running, seed_slack, xrange_all
from tests.router.loopback import Reply, http_sink
from tests.router.test_delivery import delivery_worker, drain, job_id_of, seed_target, send_events
from tests.router.test_ingest import post_slack

pytestmark = pytest.mark.anyio
KEYS = Keys()
DAY_MS = 86_400_000


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def trimmer(redis: Redis) -> AckedTrim:
    return AckedTrim(EventStore(redis, maxlen=100_000, group="trim", consumer="t"), KEYS)


async def live_jobs(redis: Redis, worker: DeliveryWorker) -> int:
    """Jobs not finished: scheduled, or on the work stream (pending or not read yet)."""
    pending = int((await redis.xpending(KEYS.delivery_jobs, "delivery"))["pending"])
    stream = await redis.xinfo_stream(KEYS.delivery_jobs)
    [group] = await redis.xinfo_groups(KEYS.delivery_jobs)
    unread = len(await xrange_all(redis, KEYS.delivery_jobs, after=group["last-delivered-id"].decode()))
    assert stream["last-generated-id"] >= group["last-delivered-id"]
    return pending + unread + int(await redis.zcard(KEYS.delivery_scheduled))


async def test_a_target_down_then_up_leaves_one_stream_entry_per_live_job_not_per_retry(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, http: httpx.AsyncClient
) -> None:
    jobs = 12
    with http_sink(default=Reply(503)) as sink:
        # More retries than the loop below can spend: a job dead-lettered while the target is down proves nothing.
        await seed_target(seed, sink.url(), retry_schedule=",".join(["10ms"] * 100), breaker_failures=1000)
        await send_events(settings, redis, registry, count=jobs)
        worker = delivery_worker(redis, registry, http)
        trim = trimmer(redis)
        for _ in range(40):  # the target is down: every job is retried again and again
            await worker.run_once()
            await trim.run_once()
            assert await redis.xlen(KEYS.delivery_jobs) <= await live_jobs(redis, worker) <= jobs
            await asyncio.sleep(0.01)
        attempts = len(sink.received)
        assert attempts >= 3 * jobs, "not retried enough to show anything"
        sink.reset(Reply(200))  # the target is back
        await drain(worker)
        await trim.run_once()
        delivered = {r.headers["webhook-id"] for r in sink.received}
    assert len(delivered) == jobs
    # Every retry was a work-stream entry once; none is left, nor any job hash or schedule.
    assert await redis.xlen(KEYS.delivery_jobs) == 0
    assert [k async for k in redis.scan_iter(match=KEYS.delivery_job("*"))] == []
    assert await redis.zcard(KEYS.delivery_scheduled) == 0


async def test_a_reschedule_moves_a_reference_and_never_copies_the_body(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, http: httpx.AsyncClient
) -> None:
    with http_sink(default=Reply(500)) as sink:
        await seed_target(seed, sink.url(), retry_schedule="10ms,10ms,10ms,10ms", breaker_failures=1000)
        big = json.dumps({"team_id": "T0001", "event_id": "Ev0", "event": {"type": "message", "text": "x" * 4000}})
        async with running(settings) as client:
            [event_id] = (await post_slack(client, big.encode())).json()["ids"]
        await make_worker(redis, registry).run_once()
        job_key = KEYS.delivery_job(job_id_of(event_id))
        [(_, first)] = await xrange_all(redis, KEYS.delivery_jobs)
        body = first[b"body"]
        worker = delivery_worker(redis, registry, http)
        trim = trimmer(redis)
        sizes: list[int] = []
        for attempt in range(1, 5):
            await sink.received_async(attempt - 1)
            while len(sink.received) < attempt:
                await worker.run_once()
                await asyncio.sleep(0.005)
            await trim.run_once()
            # Rescheduled: the body is in the job's hash, once; the scheduled set and the stream hold its id only.
            assert await redis.hget(job_key, "body") == body
            assert len(json.loads(await redis.hget(job_key, "attempts") or b"")) == attempt
            assert await redis.zscore(KEYS.delivery_scheduled, job_id_of(event_id)) is not None
            assert all(b"body" not in f for _, f in await xrange_all(redis, KEYS.delivery_jobs))
            sizes.append(int(await redis.memory_usage(job_key, samples=0) or 0))
        await drain(worker)  # the fifth attempt fails too: the job is dead-lettered
        await trim.run_once()
        assert len(sink.received) == 5
    # Each reschedule added one attempt record (well under 200 bytes) to the hash, never another body.
    assert all(0 <= b - a < 200 for a, b in zip(sizes, sizes[1:], strict=False)), sizes
    assert len(body) > 4000
    [(_, dead)] = await xrange_all(redis, KEYS.delivery_dead)
    assert dead[b"body"] == body and len(json.loads(dead[b"attempts"])) == 5
    assert not await redis.exists(job_key) and await redis.xlen(KEYS.delivery_jobs) == 0


async def test_a_reference_to_a_job_that_ended_meanwhile_is_acked_and_dropped(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, http: httpx.AsyncClient
) -> None:
    with http_sink() as sink:
        await seed_target(seed, sink.url())
        worker = delivery_worker(redis, registry, http)
        await worker.run_once()  # creates the group
        await redis.xadd(KEYS.delivery_jobs, {"job_ref": "1-0:wf-http:cred-u1"})
        assert await worker.run_once() == 1
        assert sink.received == []
    assert (await redis.xpending(KEYS.delivery_jobs, "delivery"))["pending"] == 0


async def test_acked_trigger_jobs_are_trimmed_and_unacked_ones_kept(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_slack(seed)
    await seed(
        workflow=[{"id": "wf-unread", "integration": "slack-app", "trigger": "*"}], activate=[("wf-unread", "u1")]
    )
    await send_events(settings, redis, registry, count=5)
    stream = KEYS.triggers("wf-1")
    ids = [i.decode() for i, _ in await xrange_all(redis, stream)]
    runner = RunnerClient(redis, KEYS, "wf-1", "r1")
    read = await runner.read(count=3, block_ms=0)
    await runner.ack(read[0], read[2])
    trim = trimmer(redis)

    async def kept() -> list[str]:
        return [i.decode() for i, _ in await xrange_all(redis, stream)]

    await trim.run_once()
    assert await kept() == ids[1:]  # the second job is pending: it and all after it stay, acked or not
    await runner.ack(read[1])
    await trim.run_once()
    assert await kept() == ids[3:]  # the last two were never read
    await redis.xgroup_create(stream, "audit", id="0")  # a second reader that has read nothing
    await runner.ack(*await runner.read(count=10, block_ms=0))
    await trim.run_once()
    assert await kept() == ids[3:]
    await redis.xgroup_destroy(stream, "audit")
    await trim.run_once()
    assert await kept() == []
    # No runner reads wf-unread yet (no group): its jobs wait for one.
    assert await redis.xlen(KEYS.triggers("wf-unread")) == 5
    assert (await redis.xinfo_groups(stream))[0]["name"].decode() == RUNNER_GROUP


async def test_a_pending_entry_that_retention_removed_does_not_hold_the_trim_back(redis: Redis) -> None:
    store = EventStore(redis, maxlen=1000, group="g", consumer="c")
    await store.ensure_group("s")
    for n in range(1, 6):
        await redis.xadd("s", {"n": n}, id=f"{n}-0")
    await store.read_new("s", count=4, block_ms=0)
    await store.ack("s", ["2-0", "3-0"])
    await store.trim_before("s", "2-0", approximate=False)  # retention, while 1-0 is still pending
    # 1-0 is gone (still pending, on Redis 6.2, for good): 2-0 and 3-0 are acked; 4-0 is pending; 5-0 unread.
    assert await store.trim_acked(["s"]) == 2
    assert [i.decode() for i, _ in await xrange_all(redis, "s")] == ["4-0", "5-0"]


async def test_retention_reaches_every_stream_and_forgets_emptied_index_keys(
    seed: Seed, redis: Redis, registry: Registry
) -> None:
    now = time.time()
    old, new = f"{int(now * 1000) - 40 * DAY_MS}-0", f"{int(now * 1000)}-0"
    streams = [
        KEYS.ingest,
        KEYS.ingest_dead,
        KEYS.delivery_jobs,
        KEYS.delivery_dead,
        KEYS.notifications,
        KEYS.executions,
        KEYS.triggers("wf-gone"),
    ]
    for stream in streams:
        for entry_id in (old, new):
            await redis.xadd(stream, {"body": b"x"}, id=entry_id)
    await redis.sadd(KEYS.stream_registry, KEYS.triggers("wf-gone"))  # a workflow since removed
    stale = KEYS.event_index("user", "u-gone")
    await redis.zadd(stale, {old: int(old.split("-")[0]) * 1000})
    await redis.sadd(KEYS.index_registry, stale)
    store = EventStore(redis, maxlen=100_000, group="trim", consumer="t")
    config = RetentionConfig(retention_s=30 * 86_400)
    await Retention(store, SnapshotCache(registry, refresh_s=0.05), KEYS, config, clock=lambda: now).run_once()
    for stream in streams:
        assert [i.decode() for i, _ in await xrange_all(redis, stream)] == [new], stream
    assert not await redis.sismember(KEYS.index_registry, stale)


async def test_the_routing_worker_retention_takes_seconds_too(seed: Seed, redis: Redis, registry: Registry) -> None:
    now = time.time()
    for ms in (int(now * 1000) - 5000, int(now * 1000)):
        await redis.xadd(KEYS.ingest, {"body": b"x"}, id=f"{ms}-0")
    await make_worker(redis, registry, retention_s=2.0).trim(now)
    assert await redis.xlen(KEYS.ingest) == 1


# -- timers, not polls ----------------------------------------------------------------------------------------


async def test_a_retry_is_attempted_when_due_not_after_the_block_period(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, http: httpx.AsyncClient
) -> None:
    with http_sink(500, default=Reply(200)) as sink:
        await seed_target(seed, sink.url())  # the worker's schedule: 300 ms, without jitter
        await send_events(settings, redis, registry)
        # An idle worker blocks on the stream; with 5 s blocks a poll would find the retry only 5 s later.
        worker = delivery_worker(redis, registry, http, block_ms=5000, retry=RetryPolicy.parse("300ms", jitter=0.0))
        while len(sink.received) < 2:
            await worker.run_once()
        first, second = sink.received
    assert 0.3 <= second.at - first.at < 2.0


async def test_a_rate_limited_target_receives_its_jobs_at_its_rate(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, http: httpx.AsyncClient
) -> None:
    jobs = 40
    with http_sink() as sink:
        await seed_target(seed, sink.url(), rate_per_s=5, burst=1)
        await send_events(settings, redis, registry, count=jobs)
        # HOOKROUTER_ROUTE_BLOCK_MS's default: jobs held back by the limit must not wait for it.
        worker = delivery_worker(redis, registry, http, block_ms=1000)
        started = time.monotonic()
        while len(sink.received) < jobs:
            assert time.monotonic() - started < 20, f"{len(sink.received)} of {jobs} after 20 s"
            await worker.run_once()
        received = sink.received
    took = received[-1].at - received[0].at
    # 5/s with a burst of 1: one at once, then one every 0.2 s; 39 intervals take 7.8 s at the least.
    assert 39 * 0.2 - 0.05 <= took < 12, took
    assert len({r.headers["webhook-id"] for r in received}) == jobs
