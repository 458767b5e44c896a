"""Event destinations end to end: notification stream → fan-out → delivery jobs → a real loopback target."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from router.admin import destinations
from router.delivery.limits import Limiter
from router.delivery.retry import RetryPolicy
from router.delivery.worker import DeliveryConfig, DeliveryWorker
from router.notifications.delivery import DestinationSender
from router.notifications.events import Notifier, credentials_failure, router_event, workflow_failure
from router.notifications.fanout import DestinationFanout
from router.settings import Settings
from router.storage.keys import DELIVERY_GROUP, DESTINATIONS_GROUP, Keys
from router.storage.store import EventStore
from subscriptions.destinations import Destination
from subscriptions.registry import Registry
from subscriptions.snapshot import Snapshot, SnapshotCache
from tests.router.conftest import ADMIN_TOKEN, Seed, running, xrange_all
from tests.router.loopback import Reply, http_sink
from tests.router.problem_support import legacy
from tests.router.schema_support import body_schemas, component, fits, operation, parameters
from tests.router.waiting import eventually

pytestmark = pytest.mark.anyio
KEYS = Keys()
AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}
FAST = RetryPolicy.parse("20ms,20ms", jitter=0.0)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


class Pipeline:
    """The destination half of the workers, driven step by step."""

    def __init__(
        self,
        redis: Redis,
        registry: Registry,
        http: httpx.AsyncClient,
        *,
        auto_disable_after: int = 10,
        retry: RetryPolicy = FAST,
        in_flight: int = 50,
    ) -> None:
        cache = SnapshotCache(registry, refresh_s=0.01)
        store = EventStore(redis, maxlen=10_000, group=DELIVERY_GROUP, consumer="d")
        self.notifier = Notifier(EventStore(redis, maxlen=10_000, group="x", consumer="n"), KEYS)
        limiter = Limiter(redis, KEYS)
        sender = DestinationSender(
            redis, KEYS, limiter, http, self.notifier, None, auto_disable_after=auto_disable_after, retry=retry
        )
        self.delivery = DeliveryWorker(
            store,
            cache,
            KEYS,
            limiter,
            http,
            DeliveryConfig(block_ms=0, retry=retry, in_flight=in_flight),
            destinations=sender,
            notifier=self.notifier,
        )
        self.fanout = DestinationFanout(
            EventStore(redis, maxlen=10_000, group=DESTINATIONS_GROUP, consumer="f"), cache, KEYS, block_ms=0
        )

    async def emit(self, message: str = "Workflow failed", kind: str = "workflow_failure") -> str:
        event = router_event(Snapshot(), kind, project="p1", message=message, data={"error": "boom"})
        return await self.notifier.emit(event)

    async def run(self, rounds: int = 30) -> None:
        for _ in range(rounds):
            moved = await self.fanout.run_once() + await self.delivery.run_once()
            if not moved:
                await asyncio.sleep(0.03)


async def seed_destinations(seed: Seed, *urls: str, **extra: Any) -> None:
    await seed(
        project=[{"id": "p1", "name": "Project One"}],
        destination=[{"id": f"d{n}", "type": "webhook", "url": url, **extra} for n, url in enumerate(urls)],
    )


async def test_an_event_reaches_every_destination_of_its_project(
    redis: Redis, registry: Registry, seed: Seed, http: httpx.AsyncClient
) -> None:
    with http_sink() as a, http_sink() as b:
        await seed_destinations(seed, a.url(), b.url())
        pipeline = Pipeline(redis, registry, http)
        await pipeline.emit("Workflow \u201cSync\u201c failed")
        await pipeline.run()
        [got_a], [got_b] = a.received, b.received
    assert json.loads(got_a.body)["message"] == "Workflow \u201cSync\u201c failed"  # default payload: the event
    assert got_a.body == got_b.body and json.loads(got_a.body)["project"] == {"id": "p1", "name": ""}


async def test_the_event_type_filter_and_disabled_destinations(
    redis: Redis, registry: Registry, seed: Seed, http: httpx.AsyncClient
) -> None:
    with http_sink() as wants, http_sink() as filtered, http_sink() as off:
        await seed(
            project=[{"id": "p1"}],
            destination=[
                {"id": "wants", "url": wants.url(), "event_types": ["workflow_failure"]},
                {"id": "filtered", "url": filtered.url(), "event_types": ["credentials_failure"]},
                {"id": "off", "url": off.url(), "enabled": False},
            ],
        )
        pipeline = Pipeline(redis, registry, http)
        await pipeline.emit()
        await pipeline.run()
        assert (len(wants.received), len(filtered.received), len(off.received)) == (1, 0, 0)


async def test_failed_deliveries_are_retried(
    redis: Redis, registry: Registry, seed: Seed, http: httpx.AsyncClient
) -> None:
    with http_sink(500, 502) as sink:
        await seed_destinations(seed, sink.url())
        pipeline = Pipeline(redis, registry, http)
        await pipeline.emit()
        await pipeline.run(60)
        assert [len(sink.received)] == [3]


async def test_consecutive_failures_disable_a_destination_and_the_others_are_told(
    redis: Redis, registry: Registry, seed: Seed, http: httpx.AsyncClient, settings: Settings
) -> None:
    with http_sink(default=Reply(500)) as failing, http_sink() as healthy:
        await seed(
            project=[{"id": "p1", "name": "Project One"}],
            destination=[
                {"id": "failing", "name": "Broken hook", "url": failing.url(), "event_types": ["workflow_failure"]},
                {"id": "healthy", "url": healthy.url(), "event_types": ["destination_disabled"]},
            ],
        )
        # One attempt at a time, so the count is exact (concurrent attempts may each see it below the threshold).
        pipeline = Pipeline(redis, registry, http, auto_disable_after=3, retry=RetryPolicy.parse("none"), in_flight=1)
        for n in range(4):
            await pipeline.emit(f"failure {n}")
        await pipeline.run(60)
        assert len(failing.received) == 3  # the fourth event found it disabled
        [told] = healthy.received
        async with running(settings) as client:
            state = (await client.get("/api/destinations/failing", headers=AUTH)).json()
            enabled = await client.post("/api/destinations/failing/enable", headers=AUTH)
        failing.reset(Reply(200))
        await pipeline.emit("after re-enable")
        await pipeline.run(60)
        assert [json.loads(r.body)["message"] for r in failing.received] == ["after re-enable"]
    announcement = json.loads(told.body)
    assert announcement["type"] == "destination_disabled" and "Broken hook" in announcement["message"]
    assert announcement["data"]["failures"] == 3 and announcement["project"]["name"] == "Project One"
    assert state["auto_disabled"]["failures"] == 3 and enabled.status_code == 200
    reasons = [f[b"dead_reason"] for _, f in await xrange_all(redis, KEYS.delivery_dead)]
    # No retries here: the first two ran out at once, the third crossed the threshold, the fourth found it off.
    assert reasons == [b"attempts_exhausted", b"attempts_exhausted", b"destination_disabled", b"destination_disabled"]


async def test_a_dead_lettered_trigger_job_raises_delivery_exhausted(
    redis: Redis, registry: Registry, seed: Seed, http: httpx.AsyncClient, settings: Settings
) -> None:
    from tests.router.test_delivery import seed_target, send_events

    with http_sink(default=Reply(400)) as target, http_sink() as destination:
        await seed_target(seed, target.url())
        await seed(project=[{"id": "p1", "name": "Project One"}], destination=[{"id": "ops", "url": destination.url()}])
        await send_events(settings, redis, registry)
        await Pipeline(redis, registry, http).run(40)
        [received] = destination.received
    event = json.loads(received.body)
    assert event["type"] == "delivery_exhausted" and event["workflow"]["id"] == "wf-http"
    assert event["data"]["reason"] == "rejected" and event["data"]["attempts"][0]["status"] == 400


async def _status(reply: Awaitable[httpx.Response], status: int) -> bool:
    return (await reply).status_code == status


async def test_the_admin_api_manages_destinations_without_showing_secrets(settings: Settings, seed: Seed) -> None:
    await seed(project=[{"id": "p1"}])
    slack_url = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX"
    async with running(settings) as client:
        created = await client.put(
            "/api/destinations/ops",
            headers=AUTH,
            json={"project": "p1", "template": "slack", "url": slack_url, "event_types": ["workflow_failure"]},
        )
        again = await client.put(
            "/api/destinations/ops",
            headers=AUTH,
            json={"project": "p1", "template": "slack", "url": slack_url, "event_types": ["workflow_failure"]},
        )
        bad = await client.put(
            "/api/destinations/bad",
            headers=AUTH,
            json={"project": "p1", "template": "slack", "url": "ftp://nope/SECRETISH", "event_types": ["nope"]},
        )
        # The admin API lists the app's registry snapshot, which takes up the write at its next refresh.
        await eventually(
            lambda: _status(client.get("/api/destinations/ops", headers=AUTH), 200), what="the destination listed"
        )
        listed = await client.get("/api/destinations", headers=AUTH)
        one = await client.get("/api/destinations/ops", headers=AUTH)
        disabled = await client.post("/api/destinations/ops/disable", headers=AUTH)
        deleted = await client.delete("/api/destinations/ops", headers=AUTH)
        unauthorised = await client.get("/api/destinations")
    assert (created.status_code, again.json()["change"]) == (201, "unchanged")
    assert bad.status_code == 400 and "SECRETISH" not in bad.text and "unknown event types ['nope']" in bad.text
    assert [d["id"] for d in listed.json()["data"]] == ["ops"]
    assert "XXXXSECRETXXXX" not in listed.text + one.text
    assert one.json()["url"] == "https://hooks.slack.com/…"
    assert disabled.json()["enabled"] is False and deleted.json() == {"deleted": True}
    assert unauthorised.status_code == 401


async def test_the_test_action_reports_status_latency_and_error(settings: Settings, seed: Seed) -> None:
    with http_sink(Reply(200), Reply(503)) as sink:
        await seed_destinations(seed, sink.url())
        async with running(settings) as client:
            ok = (await client.post("/api/destinations/d0/test", headers=AUTH)).json()
            failing = (await client.post("/api/destinations/d0/test", headers=AUTH)).json()
            missing = await client.post("/api/destinations/nope/test", headers=AUTH)
        sample = json.loads(sink.received[0].body)
    assert ok["ok"] is True and ok["status"] == 200 and ok["error"] is None and ok["latency_ms"] >= 0
    assert failing == {**failing, "ok": False, "status": 503, "error": "http_status"}
    assert missing.status_code == 404 and sample["type"] == "workflow_failure"


async def test_a_sentry_destination_in_the_platforms_form(settings: Settings, seed: Seed) -> None:
    """platform-api.md §5.4: the Sentry Ingest URL, and <Sentry Key> replaced by the public key in a header."""
    await seed(project=[{"id": "p1"}])
    key = "0123456789abcdef0123456789abcdef"
    with http_sink() as sink:
        body = {
            "project": "p1",
            "template": "sentry",
            "url": sink.base + "/api/4504082601017344/store/",
            "headers": {"X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={key}"},
        }
        async with running(settings) as client:
            created = await client.put("/api/destinations/sentry", headers=AUTH, json=body)
            keyless = await client.put("/api/destinations/sentry", headers=AUTH, json={**body, "headers": {}})
            tested = (await client.post("/api/destinations/sentry/test", headers=AUTH)).json()
            shown = (await client.get("/api/destinations/sentry", headers=AUTH)).text
        [received] = sink.received
    assert created.status_code == 201 and tested["ok"] is True
    assert keyless.status_code == 400 and keyless.json()["code"] == "invalid_destination"
    assert "X-Sentry-Auth" in keyless.json()["detail"]
    assert received.path == "/api/4504082601017344/store/"
    assert f"sentry_key={key}" in received.headers["x-sentry-auth"]
    assert json.loads(received.body)["exception"]["values"][0]["type"] == "workflow_failure"
    assert key not in shown


async def test_notifications_are_listed_and_replayed(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, http: httpx.AsyncClient
) -> None:
    with http_sink() as sink:
        await seed_destinations(seed, sink.url())
        pipeline = Pipeline(redis, registry, http)
        first = await pipeline.emit("original")
        async with running(settings) as client:
            listed = (await client.get("/api/notifications?type=workflow_failure", headers=AUTH)).json()["data"]
            replay = await client.post(f"/api/notifications/{first}/replay", headers=AUTH)
        await pipeline.run()
        assert [json.loads(r.body)["message"] for r in sink.received] == ["original", "original"]
    assert [n["id"] for n in listed] == [first] and replay.status_code == 202
    assert time.time() - listed[0]["timestamp"] / 1000 < 60


async def test_the_schema_describes_every_destination_route_and_real_answers_fit_it(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    snapshot = Snapshot()
    notifier = Notifier(EventStore(redis, maxlen=10_000, group="x", consumer="n"), KEYS)
    emitted = [
        await notifier.emit(router_event(snapshot, "delivery_exhausted", project="p1", message="m", data={})),
        await notifier.emit(credentials_failure(snapshot, credential="c1", error="invalid_grant")),
        await notifier.emit(
            workflow_failure(snapshot, project="p1", workflow="w", user="u", execution_id="x", error="boom")
        ),
    ]
    await redis.hset(
        KEYS.disabled_destinations, "d0", json.dumps({"at": 1.5, "failures": 3, "status": 500, "error": "http_status"})
    )
    email = {"type": "email", "project": "p1", "to": ["ops@example.com"], "event_types": ["workflow_failure"]}
    with http_sink() as sink:
        await seed_destinations(seed, sink.url())
        await seed(destination=[{"id": "mail", **email}])
        hook = {"project": "p1", "url": sink.url(), "headers": {"x-key": "SECRETISH"}, "auto_disable_after": 3}
        async with running(settings) as http:
            schema = (await http.get("/api/openapi.json")).json()
            answers = [
                await http.get("/api/destinations", headers=AUTH),
                await http.get("/api/destinations/d0", headers=AUTH),
                await http.put("/api/destinations/new", json=hook, headers=AUTH),
                await http.put("/api/destinations/new", json=hook, headers=AUTH),
                await http.put("/api/destinations/mail2", json=email, headers=AUTH),
                await http.put("/api/destinations/x", json={**hook, "enabled": "maybe"}, headers=AUTH),
                await http.put("/api/destinations/x", json={**email, "type": "sms"}, headers=AUTH),
                await http.put("/api/destinations/x", json={**email, "url": sink.url()}, headers=AUTH),
                await http.put("/api/destinations/x", json={**hook, "event_types": ["nope"]}, headers=AUTH),
                await http.put("/api/destinations/x", json={**hook, "url": "http://10.0.0.1/"}, headers=AUTH),
                await http.put("/api/destinations/x", json={**hook, "project": "p9"}, headers=AUTH),
                await http.post("/api/destinations/d0/test", headers=AUTH),
                await http.post("/api/destinations/mail/disable", headers=AUTH),
                await http.post("/api/destinations/mail/enable", headers=AUTH),
                await http.delete("/api/destinations/mail", headers=AUTH),
                await http.delete("/api/destinations/mail", headers=AUTH),
                await http.get("/api/notifications?limit=2", headers=AUTH),
                await http.post(f"/api/notifications/{emitted[0]}/replay", headers=AUTH),
                await http.post("/api/notifications/1-0/replay", headers=AUTH),
            ]
            answers.append(await http.get(answers[-3].json()["next"], headers=AUTH))
    statuses = [a.status_code for a in answers]
    assert statuses == [
        200,
        200,
        201,
        200,
        201,
        422,
        422,
        422,
        400,
        400,
        400,
        200,
        200,
        200,
        200,
        404,
        200,
        202,
        404,
        200,
    ]
    for answer in answers:
        fits(destinations.router, answer)
    assert "SECRETISH" not in "".join(a.text for a in answers)
    listed = {d["id"]: d for d in answers[0].json()["data"]}
    assert listed["d0"]["auto_disabled"]["at_iso"] == "1970-01-01T00:00:01.500Z" and listed["mail"]["to"]
    assert [[e["field"] for e in a.json()["errors"]] for a in answers[5:8]] == [["enabled"], ["type"], ["url"]]
    assert [legacy(a.json())["error"] for a in answers[8:11]] == ["invalid_destination", "address_refused"] + [
        "unknown_project"
    ]
    assert [n["id"] for n in answers[16].json()["data"] + answers[-1].json()["data"]] == emitted[::-1]
    assert answers[11].json()["ok"] is True

    assert set(parameters(schema, "GET", "/destinations")) == {"project"}
    assert set(parameters(schema, "GET", "/notifications")) == {"type", "limit", "cursor"}
    for method, path in [("GET", ""), ("PUT", ""), ("DELETE", ""), *(("POST", f"/{a}") for a in ACTIONS)]:
        assert set(parameters(schema, method, "/destinations/{destination_id}" + path)) == {"destination_id"}
    assert set(parameters(schema, "POST", "/notifications/{notification_id}/replay")) == {"notification_id"}
    assert body_schemas(schema, "PUT", "/destinations/{destination_id}") == {"WebhookBody", "EmailBody"}
    assert component(schema, "EmailBody")["required"] == ["project", "type", "to"]
    webhook = component(schema, "WebhookBody")["properties"]
    assert webhook["url"]["anyOf"][0]["writeOnly"] is True and webhook["template"]["enum"] == ["webhook", *TEMPLATES]
    assert {"200", "201", "400", "422"} <= set(operation(schema, "PUT", "/destinations/{destination_id}")["responses"])
    assert {"202", "409"} <= set(operation(schema, "POST", "/notifications/{notification_id}/replay")["responses"])


ACTIONS = ("enable", "disable", "test")
TEMPLATES = ("slack", "datadog", "newrelic", "sentry")


async def test_a_put_that_leaves_out_the_secrets_keeps_them_unless_the_destination_moves(
    settings: Settings, seed: Seed, registry: Registry
) -> None:
    await seed(project=[{"id": "p1"}, {"id": "p2"}])
    auth = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    full = {"project": "p1", "url": "https://hooks.example.com/a/secret", "headers": {"X-Key": "k1"}}
    async with running(settings) as http:
        assert (await http.put("/api/destinations/d1", json=full, headers=auth)).status_code == 201
        renamed = await http.put("/api/destinations/d1", json={"project": "p1", "name": "renamed"}, headers=auth)
        assert renamed.status_code == 200 and renamed.json()["change"] == "updated"
        kept = await registry.get("destination", "d1")
        assert isinstance(kept, Destination) and kept.name == "renamed" and kept.url is not None
        assert kept.url.get_secret_value() == full["url"]
        assert {k: v.get_secret_value() for k, v in kept.headers.items()} == {"X-Key": "k1"}
        emptied = await http.put("/api/destinations/d1", json={**full, "headers": {}}, headers=auth)
        assert emptied.status_code == 200  # named, even empty: replaced
        emptied_record = await registry.get("destination", "d1")
        assert isinstance(emptied_record, Destination) and emptied_record.headers == {}
        # Moved to another project, nothing is carried over: a webhook without its URL is refused.
        moved = await http.put("/api/destinations/d1", json={"project": "p2"}, headers=auth)
        assert moved.status_code == 400 and moved.json()["code"] == "invalid_destination"
