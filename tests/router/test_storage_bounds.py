"""Bounded storage against a real Redis: a job's body is stored once however often it is retried."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from router.keys import Keys
from router.settings import Settings
from subscriptions.registry import Registry
from tests.router.conftest import Seed, make_worker, running, xrange_all
from tests.router.loopback import Reply, http_sink
from tests.router.test_delivery import delivery_worker, drain, job_id_of, seed_target
from tests.router.test_ingest import post_slack

pytestmark = pytest.mark.anyio
KEYS = Keys()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


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
        sizes: list[int] = []
        for attempt in range(1, 5):
            await sink.received_async(attempt - 1)
            while len(sink.received) < attempt:
                await worker.run_once()
                await asyncio.sleep(0.005)
            # Rescheduled: the body is in the job's hash, once; the scheduled set and the stream hold its id only.
            assert await redis.hget(job_key, "body") == body
            assert len(json.loads(await redis.hget(job_key, "attempts") or b"")) == attempt
            assert await redis.zscore(KEYS.delivery_scheduled, job_id_of(event_id)) is not None
            # The job's first entry had the body; every entry that brought it back since holds a reference.
            assert all(set(f) == {b"job_ref"} for _, f in (await xrange_all(redis, KEYS.delivery_jobs))[1:])
            sizes.append(int(await redis.memory_usage(job_key, samples=0) or 0))
        await drain(worker)  # the fifth attempt fails too: the job is dead-lettered
        assert len(sink.received) == 5
    # Each reschedule added one attempt record (well under 200 bytes) to the hash, never another body.
    assert all(0 <= b - a < 200 for a, b in zip(sizes, sizes[1:], strict=False)), sizes
    assert len(body) > 4000
    [(_, dead)] = await xrange_all(redis, KEYS.delivery_dead)
    assert dead[b"body"] == body and len(json.loads(dead[b"attempts"])) == 5
    assert not await redis.exists(job_key) and await redis.zcard(KEYS.delivery_scheduled) == 0


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
