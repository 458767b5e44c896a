"""/metrics: what an operator watches, read through the exposition as Prometheus reads it.

The process's metrics are global and every test in the run adds to them: each test compares before and after.
"""

from __future__ import annotations

import time

import httpx
import pytest
from asgi_lifespan import LifespanManager
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from redis.asyncio import Redis

from router.app import create_worker_app
from router.history.indexes import EventIndex
from router.settings import Settings
from router.storage.keys import Keys
from router.storage.timing import OPERATIONS
from subscriptions.registry import Registry
from tests.router.conftest import SLACK_SECRET, SLACK_URL, Seed, make_settings, make_worker, running, seed_slack
from tests.router.loopback import Reply, http_sink
from tests.router.test_ingest import post_slack, slack_event
from tests.router.waiting import eventually

pytestmark = pytest.mark.anyio
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
METRICS_TOKEN = "metrics-token-0123456789abcdefghijkl"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(http: httpx.AsyncClient, **headers: str) -> Samples:
    answer = await http.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=")
    return parse(answer.text)


async def test_webhooks_leave_counts_by_route_template_integration_and_reason(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_slack(seed)
    route = "/webhook/triggers/connect/{integration}/{integration_id}"
    async with running(settings) as http:
        before = await scrape(http)
        event_id = f"EvMetrics{time.time_ns()}"
        assert (await post_slack(http, slack_event(event_id=event_id))).status_code == 200
        assert (await post_slack(http, slack_event(event_id=event_id))).json()["duplicates"] == 1
        forged = await http.post(SLACK_URL, content=b"{}", headers={"x-slack-signature": "v0=00"})
        assert forged.status_code == 401
        assert (await http.post("/webhook/triggers/connect/slack/no-such-app", content=b"{}")).status_code == 404
        assert (await http.get("/a/path/nobody/serves/ev-12345")).status_code == 404
        assert await make_worker(redis, registry).run_once() == 1
        answer = await http.get("/metrics")
        after = parse(answer.text)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "hookrouter_http_requests_total"
    assert delta(requests, route=route, integration="slack-app", status="200") == 2
    assert delta(requests, route=route, integration="slack-app", status="401") == 1
    # An unknown integration is not a label: its id came from the URL, not from the registry.
    assert delta(requests, route=route, integration="", status="404") == 1
    assert delta(requests, route="unmatched", integration="", status="404") == 1
    assert delta("hookrouter_events_stored_total", integration="slack-app") == 1
    assert delta("hookrouter_dedup_hits_total", integration="slack-app") == 1
    assert delta("hookrouter_verification_failures_total", integration="slack-app", reason="missing_header") == 1
    assert delta("hookrouter_http_request_duration_seconds_count", route=route) == 4
    assert delta("hookrouter_redis_command_duration_seconds_count", operation="ingest") >= 1
    # Routing (a worker in this process) and the store's state, sampled at the scrape.
    assert delta("hookrouter_events_routed_total", status="matched") == 1
    assert delta("hookrouter_ingest_to_trigger_seconds_count") == 1
    assert value(after, "hookrouter_stream_backlog", stream="ingest", shard="0") == 0
    assert value(after, "hookrouter_stream_pending", stream="ingest", shard="0") == 0
    assert ("hookrouter_retry_queue_depth", frozenset({("shard", "0")})) in after  # sampled, per shard
    assert value(after, "hookrouter_retry_queue_depth", shard="0") == 0
    assert value(after, "hookrouter_dead_letters", stream="delivery") == 0
    assert value(after, "hookrouter_loop_last_beat_timestamp_seconds", task="registry-refresh") > time.time() - 60
    # Bounded and secret-free: no raw path, no event id, no secret.
    for leaked in (event_id, "no-such-app", "/a/path", "ev-12345", SLACK_SECRET):
        assert leaked not in answer.text


async def test_backlog_counts_what_the_routing_group_has_not_finished(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_slack(seed)
    async with running(settings) as http:
        await make_worker(redis, registry).run_once()  # creates the group; nothing to route yet
        for n in range(3):
            assert (await post_slack(http, slack_event(event_id=f"EvBacklog{n}"))).status_code == 200
        samples = await scrape(http)
        assert value(samples, "hookrouter_stream_backlog", stream="ingest", shard="0") == 3
        await make_worker(redis, registry).run_once()
        samples = await scrape(http)
        assert value(samples, "hookrouter_stream_backlog", stream="ingest", shard="0") == 0


async def test_a_metrics_token_is_asked_for_when_set(redis_url: str) -> None:
    async with running(make_settings(redis_url, metrics_token=SecretStr(METRICS_TOKEN))) as http:
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/metrics", headers={"authorization": "Bearer wrong"})).status_code == 401
        assert (await http.get("/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})).status_code == 200


async def test_a_frozen_redis_costs_the_sample_not_the_answer(redis_url: str, redis: Redis) -> None:
    settings = make_settings(redis_url, redis_deadline_s=0.3)
    async with running(settings) as http:
        before = await scrape(http)
        await redis.client_pause(1500)  # every client waits: the sample hits its deadline
        samples = await scrape(http)
        await redis.client_unpause()
    delta = value(samples, "hookrouter_metrics_sample_errors_total") - value(
        before, "hookrouter_metrics_sample_errors_total"
    )
    assert delta == 1


async def test_the_worker_app_serves_metrics_with_its_loops_heartbeats(redis_url: str) -> None:
    settings = make_settings(redis_url, route_block_ms=50)
    app = create_worker_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://worker.test") as http:
            deadline = time.monotonic() + 10
            while True:
                samples = await scrape(http)
                beat = value(samples, "hookrouter_loop_last_beat_timestamp_seconds", task="routing")
                if beat > time.time() - 5 or time.monotonic() > deadline:
                    break
            assert beat > time.time() - 5
            assert (await http.get("/webhook/triggers/connect/slack/x")).status_code == 404  # only probes and metrics


async def test_a_routed_and_delivered_event_leaves_redis_timings_by_operation_and_retries_by_shard(
    redis_url: str, seed: Seed, redis: Redis
) -> None:
    """`serve` with its workers and four shards: every Redis round trip of the ingest, routing and delivery of an
    event is timed under its operation; a retry waiting in its shard is counted in that shard's depth only."""
    with http_sink(Reply(503), default=Reply(200)) as sink:
        await seed(
            integration=[{"id": "slack-app", "type": "slack", "secrets": ["slack-signing-secret"]}],
            user=[{"id": f"u{n}"} for n in range(8)],
            credential=[
                {"id": f"cred-{n}", "user": f"u{n}", "integration": "slack-app", "provider_id": f"T{n}"}
                for n in range(8)
            ],
            workflow=[
                {
                    "id": "wf-http",
                    "integration": "slack-app",
                    "trigger": "*",
                    "target": {"type": "http", "url": sink.url(), "secrets": [WHSEC], "retry_schedule": "1h"},
                }
            ],
            activate=[("wf-http", f"u{n}") for n in range(8)],
        )
        settings = make_settings(redis_url, shards=4, run_workers=True, route_block_ms=50, consumer_name="timed")
        keys = Keys.of(settings)
        teams = {keys.shard_of("slack-app", f"T{n}"): f"T{n}" for n in range(8)}  # a team of each shard reached
        assert len(teams) >= 2
        (retried_shard, retried), (_, delivered) = list(teams.items())[:2]
        async with running(settings) as http:
            before = await scrape(http)
            await post_slack(http, slack_event(team=retried, event_id="EvRetried"))
            await sink.received_async(1, timeout_s=30)  # answered 503: its retry waits an hour, in its shard
            [delivered_id] = (await post_slack(http, slack_event(team=delivered, event_id="EvDelivered"))).json()["ids"]

            async def settled() -> bool:
                return await EventIndex(redis, keys).statuses([delivered_id]) == ["delivered"]

            await eventually(settled, timeout_s=30, what="the second event delivered")
            after = await scrape(http)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    timed = "hookrouter_redis_command_duration_seconds_count"
    for operation in ("ingest", "route", "deliver", "probe"):
        assert delta(timed, operation=operation) >= 1, operation
    # Labels stay within the bounded set, whichever module made the round trip.
    labelled = {dict(labels)["operation"] for name, labels in after if name == timed}
    assert labelled and labelled <= OPERATIONS
    for shard in keys.every_shard:
        depth = value(after, "hookrouter_retry_queue_depth", shard=str(shard.index))
        assert depth == (1 if shard.index == retried_shard else 0), shard.index
