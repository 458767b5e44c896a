from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from router.admin import history
from router.delivery.limits import Limiter
from router.delivery.retry import RetryPolicy
from router.delivery.worker import DeliveryConfig, DeliveryWorker
from router.history.indexes import STATUSES, EventFilter, EventIndex, JobFilter, score
from router.routing.worker import RoutingWorker
from router.settings import Settings
from router.storage.keys import DELIVERY_GROUP, Keys
from router.storage.store import EventStore
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache
from tests.router.conftest import ADMIN_TOKEN, Seed, make_worker, running, seed_slack, xrange_all
from tests.router.schema_support import component, deprecated, fits, operation, parameters
from tests.router.test_ingest import post_slack, slack_event

pytestmark = pytest.mark.anyio
KEYS = Keys()
DAY_MS = 86_400_000
AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}
HOUR = RetryPolicy.parse("1h", jitter=0.0)  # a failed delivery stays "failed" (scheduled) for the test's length


async def seed_world(seed: Seed) -> None:
    """Two Slack apps; slack-a's workflow is a stream target, slack-b's an HTTP target."""
    await seed(
        project=[{"id": "p1"}],
        integration=[
            {"id": "slack-a", "type": "slack", "secrets": ["s"]},
            {"id": "slack-b", "type": "slack", "secrets": ["s"]},
        ],
        user=[{"id": f"u{n}"} for n in range(1, 5)],
        credential=[
            {"id": "cred-u1", "user": "u1", "integration": "slack-a", "provider_id": "T1"},
            {"id": "cred-u2", "user": "u2", "integration": "slack-a", "provider_id": "T2"},
            {"id": "cred-u3", "user": "u3", "integration": "slack-b", "provider_id": "T3"},
            {"id": "cred-u4", "user": "u4", "integration": "slack-b", "provider_id": "T1"},
        ],
        workflow=[
            {"id": "wf-a", "integration": "slack-a", "trigger": "*"},
            {
                "id": "wf-b",
                "integration": "slack-b",
                "trigger": "*",
                "target": {
                    "type": "http",
                    "url": "https://target.test/hook",
                    "secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
                    # No limit may defer a job: the test wants every job attempted once, promptly.
                    "breaker_failures": 1000,
                    "rate_per_s": 100_000,
                    "burst": 100_000,
                    "max_concurrency": 100,
                },
            },
        ],
        activate=[(wf, f"u{n}") for wf in ("wf-a", "wf-b") for n in range(1, 5)],
    )


def data(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible test data, not secrets


def fields_for(rng: random.Random, ms: int) -> dict[str, str | bytes | int]:
    return {
        "source": "webhook",
        "project": rng.choice(["p1", "p1", "p2"]),
        "integration": rng.choice(["slack-a", "slack-b", "slack-b", "ghost"]),
        "integration_type": "slack",
        "provider_id": rng.choice(["T1", "T2", "T3", "T9"]),
        "credential": "",
        "event_type": rng.choice(["message", "reaction_added", "channel_created"]),
        "delivery_id": "",
        "received_at": ms,
        "headers": json.dumps({"content-type": "application/json", "x-slack-retry-num": "1"}),
        "body": json.dumps({"mark": rng.choice(["ok", "ok", "reject", "flaky"])}).encode(),
    }


async def preload(redis: Redis, count: int, start_ms: int, step_ms: int, seed: int = 7) -> list[str]:
    """Ingest entries with chosen ids (times), every tenth sharing the previous one's millisecond."""
    rng = data(seed)
    ids: list[str] = []
    ms, seq = start_ms, 0
    async with redis.pipeline(transaction=False) as pipe:
        for n in range(count):
            if n % 10 == 9:
                seq += 1
            else:
                ms, seq = ms + step_ms, 0
            ids.append(f"{ms}-{seq}")
            pipe.xadd(KEYS.ingest, fields_for(rng, ms), id=ids[-1])  # type: ignore[arg-type]
        await pipe.execute()
    return ids


async def route_all(worker: RoutingWorker) -> None:
    while await worker.run_once():
        pass


class Target(httpx.AsyncBaseTransport):
    """Answers by the event body's mark; a fresh stream, since the delivery reads the raw response."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        mark = json.loads(await request.aread())["mark"]
        return httpx.Response({"ok": 200, "reject": 400, "flaky": 500}[mark], stream=httpx.ByteStream(b""))


async def deliver_all(redis: Redis, registry: Registry) -> None:
    async with httpx.AsyncClient(transport=Target()) as http:
        store = EventStore(redis, maxlen=100_000, group=DELIVERY_GROUP, consumer="d1")
        config = DeliveryConfig(block_ms=0, retry=HOUR, batch=100, in_flight=8)
        worker = DeliveryWorker(
            store, SnapshotCache(registry, refresh_s=0.05), KEYS, Limiter(redis, KEYS), http, config
        )
        # Until only the hour-long retries are left: jobs the target's limits deferred come due in moments.
        while await worker.run_once() or await redis.zcount(KEYS.delivery_scheduled, "-inf", time.time() + 60):
            await asyncio.sleep(0.01)


@dataclass
class Truth:
    """What each stored event is, computed the slow way: from every entry, outcome and delivery history."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)

    def matching(self, f: EventFilter) -> list[str]:
        def fits(r: dict[str, Any]) -> bool:
            return (
                (f.project is None or r["project"] == f.project)
                and (f.integration is None or r["integration"] == f.integration)
                and (f.provider_id is None or r["provider_id"] == f.provider_id)
                and (f.event_type is None or r["event_type"] == f.event_type)
                and (f.credential is None or f.credential in r["credentials"])
                and (f.user is None or f.user in r["users"])
                and (f.status is None or r["status"] == f.status)
                and (f.after_ms is None or r["ms"] >= f.after_ms)
                and (f.before_ms is None or r["ms"] < f.before_ms)
            )

        return [i for i, r in sorted(self.rows.items(), key=lambda kv: (score(kv[0]), kv[0])) if fits(r)]


async def truth(redis: Redis) -> Truth:
    out = Truth()
    for entry_id, fields in await xrange_all(redis, KEYS.ingest):
        eid = entry_id.decode()
        outcome = json.loads(await redis.hget(KEYS.outcomes, eid) or b'{"jobs": []}')
        statuses = []
        for job in outcome["jobs"]:
            history = await redis.hget(KEYS.delivery_history(job["job_id"]), "status")
            if history is not None:
                statuses.append(history.decode() if isinstance(history, bytes) else history)
            elif await redis.zscore(KEYS.delivery_scheduled, job["job_id"]) is not None:
                attempts = json.loads(await redis.hget(KEYS.delivery_job(job["job_id"]), "attempts") or b"[]")
                statuses.append("failed" if attempts else "queued")
        status: str | None = next((s for s in ("dead", "failed") if s in statuses), None)
        if status is None and "queued" in statuses:
            status = "routed"
        if status is None:
            status = "delivered" if statuses else ("routed" if outcome["jobs"] else "unmatched")
        out.rows[eid] = {
            "ms": int(eid.split("-")[0]),
            "project": fields[b"project"].decode(),
            "integration": fields[b"integration"].decode(),
            "provider_id": fields[b"provider_id"].decode(),
            "event_type": fields[b"event_type"].decode(),
            "credentials": {j["credential"] for j in outcome["jobs"]},
            "users": {j["user"] for j in outcome["jobs"]},
            "status": status,
        }
    return out


async def walk(index: EventIndex, f: EventFilter, limit: int, newest_first: bool) -> tuple[list[str], set[int]]:
    ids: list[str] = []
    totals: set[int] = set()
    cursor: str | None = None
    while True:
        page = await index.query(f, cursor=cursor, limit=limit, newest_first=newest_first)
        ids += page.ids
        totals.add(page.total)
        if page.next_cursor is None:
            return ids, totals
        assert len(page.ids) == limit, "only the last page may be short"
        cursor = page.next_cursor


async def test_every_filter_alone_and_combined_pages_through_exactly_the_matching_events(
    seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_world(seed)
    start = int(time.time() * 1000) - 30 * DAY_MS
    await preload(redis, 3000, start, 800_000)
    await route_all(make_worker(redis, registry, batch=500))
    await deliver_all(redis, registry)
    model = await truth(redis)
    index = EventIndex(redis, KEYS)
    mid, late = start + 10 * DAY_MS, start + 20 * DAY_MS
    filters = [
        EventFilter(),
        EventFilter(project="p2"),
        EventFilter(integration="slack-a"),
        EventFilter(integration="ghost"),
        EventFilter(credential="cred-u1"),
        EventFilter(user="u3"),
        EventFilter(integration="slack-b", provider_id="T1"),
        EventFilter(integration="slack-a", event_type="message"),
        *(EventFilter(status=s) for s in STATUSES[1:]),
        EventFilter(after_ms=mid, before_ms=late),
        EventFilter(integration="slack-b", status="failed"),
        EventFilter(integration="slack-b", event_type="reaction_added", user="u4", status="delivered"),
        EventFilter(credential="cred-u3", status="dead", after_ms=mid),
        EventFilter(project="p1", integration="slack-a", before_ms=late),
        EventFilter(user="nobody"),
    ]
    for f in filters:
        expected = model.matching(f)
        newest, totals = await walk(index, f, 97, True)
        assert newest == expected[::-1], f
        assert totals == {len(expected)}, f
        oldest, _ = await walk(index, f, 250, False)
        assert oldest == expected, f
    assert {len(model.matching(EventFilter(status=s))) > 50 for s in STATUSES[1:]} == {True}, "a skewed data set"
    batches = [ids async for ids in index.iter_ids(EventFilter(integration="slack-b", status="dead"), batch=40)]
    assert sum(batches, []) == model.matching(EventFilter(integration="slack-b", status="dead"))


async def test_status_moves_from_received_to_routed_or_unmatched_to_delivered_failed_or_dead(
    seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_world(seed)
    store = EventStore(redis, maxlen=1000, group="routing", consumer="x")
    rng = data(1)
    base = fields_for(rng, int(time.time() * 1000))

    async def add(**kw: Any) -> str:
        return await store.append(KEYS.ingest, {**base, **kw})

    ok = await add(integration="slack-b", provider_id="T3", body=b'{"mark": "ok"}')
    bad = await add(integration="slack-b", provider_id="T3", body=b'{"mark": "reject"}')
    flaky = await add(integration="slack-b", provider_id="T1", body=b'{"mark": "flaky"}')
    stream = await add(integration="slack-a", provider_id="T1")
    lost = await add(integration="slack-a", provider_id="T9")
    index = EventIndex(redis, KEYS)
    received = await index.query(EventFilter(status="received"))
    assert received.ids == [lost, stream, flaky, bad, ok] and received.total == 5
    assert (await index.query(EventFilter(status="received", integration="slack-b"), limit=2)).total == 3
    assert [await index.status_of(i) for i in (ok, lost)] == ["received", "received"]
    assert await index.status_of("1-0") == ""
    await route_all(make_worker(redis, registry))
    assert [await index.status_of(i) for i in (ok, bad, flaky, stream, lost)] == ["routed"] * 4 + ["unmatched"]
    assert (await index.query(EventFilter(status="received"))).total == 0
    await deliver_all(redis, registry)
    assert [await index.status_of(i) for i in (ok, bad, flaky, stream)] == ["delivered", "dead", "failed", "routed"]
    executions = await index.jobs(JobFilter(workflow="wf-b"))
    assert executions.total == 3
    # The flaky one failed once and waits for its retry.
    assert await index.job_status(executions.ids) == ["DELAYED", "FAILED", "SUCCEEDED"]  # newest first
    # A re-route (a worker died before acking) must not undo what delivery recorded.
    await redis.xgroup_setid(KEYS.ingest, "routing", "0")
    await route_all(make_worker(redis, registry))
    assert [await index.status_of(i) for i in (ok, bad, flaky)] == ["delivered", "dead", "failed"]


async def test_retention_trims_exactly_what_is_older_indexes_included(
    seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_world(seed)
    now = time.time()
    ids = await preload(redis, 400, int(now * 1000) - 40 * DAY_MS, DAY_MS // 10)
    await route_all(make_worker(redis, registry, batch=500))
    await deliver_all(redis, registry)
    cut_ms = int(now * 1000) - 20 * DAY_MS
    kept = [i for i in ids if int(i.split("-")[0]) >= cut_ms]
    assert 0 < len(kept) < len(ids)
    await make_worker(redis, registry, retention_days=20).trim(now)
    assert [i.decode() for i, _ in await xrange_all(redis, KEYS.ingest)] == kept
    for key in await redis.smembers(KEYS.index_registry):
        assert await redis.zcount(key, "-inf", f"({cut_ms * 1000}") == 0, key
    assert (await EventIndex(redis, KEYS).query(EventFilter(), limit=1000)).ids == kept[::-1]
    assert (await EventIndex(redis, KEYS).jobs(JobFilter(), limit=1)).total == await redis.zcard(KEYS.job_index("all"))
    old = set(ids) - set(kept)
    assert not any([await redis.exists(KEYS.event_jobs(i)) for i in old])


async def test_a_project_retention_overrides_the_default_both_ways(
    seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_world(seed)
    await seed(project=[{"id": "short", "retention_days": 5}, {"id": "long", "retention_days": 20}])
    now = time.time()
    ages = {"short": (3, 7, 15, 25), "p1": (3, 7, 15, 25), "long": (3, 7, 15, 25)}
    ids: dict[str, dict[int, str]] = {}
    planned = sorted(
        (int(now * 1000) - age * DAY_MS, n, project, age)
        for n, (project, days) in enumerate(ages.items())
        for age in days
    )
    for ms, n, project, age in planned:  # stream ids must grow
        entry = {**fields_for(data(age), ms), "project": project, "integration": "slack-a"}
        entry_id = f"{ms}-{n}"
        await redis.xadd(KEYS.ingest, entry, id=entry_id)  # type: ignore[arg-type]
        ids.setdefault(project, {})[age] = entry_id
    await route_all(make_worker(redis, registry))
    await make_worker(redis, registry, retention_days=10).trim(now)
    expected = {"short": [3], "p1": [3, 7], "long": [3, 7, 15]}
    stored = {i.decode() for i, _ in await xrange_all(redis, KEYS.ingest)}
    index = EventIndex(redis, KEYS)
    for project, days in expected.items():
        want = sorted((ids[project][d] for d in days), key=score)
        assert sorted(i for i in stored if i in ids[project].values()) == sorted(want), project
        assert (await index.query(EventFilter(project=project), newest_first=False)).ids == want, project
        assert (await index.query(EventFilter(project=project, integration="slack-a"))).total == len(want)
    outcomes = {k.decode() if isinstance(k, bytes) else k for k in await redis.hkeys(KEYS.outcomes)}
    assert outcomes == stored


async def test_the_api_lists_shows_and_refuses_bad_parameters(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_world(seed)
    start = int(time.time() * 1000) - 3 * DAY_MS
    await preload(redis, 300, start, 600_000)
    await route_all(make_worker(redis, registry, batch=500))
    await deliver_all(redis, registry)
    model = await truth(redis)
    async with running(settings) as http:
        day = time.strftime("%Y-%m-%d", time.gmtime(start / 1000 + DAY_MS / 1000 * 1.5))
        query = {"integration": "slack-b", "afterDate": day, "limit": "20"}
        seen: list[str] = []
        url: str | None = "/api/events"
        params: dict[str, str] | None = query
        while url:
            page = (await http.get(url, params=params, headers=AUTH)).json()
            seen += [e["id"] for e in page["data"]]
            url, params = page["nextLink"], None
        expected = model.matching(EventFilter(integration="slack-b", after_ms=_utc_ms(day)))
        assert seen == expected[::-1] and page["total"] == len(expected)
        dead = model.matching(EventFilter(status="dead"))[-1]
        detail = (await http.get(f"/api/events/{dead}", headers=AUTH)).json()
        assert detail["status"] == "dead" and detail["verification"]["result"] == "verified"
        assert detail["headers"] == {"content-type": "application/json", "x-slack-retry-num": "1"}
        assert json.loads(detail["body"]) == {"mark": "reject"}
        [job] = detail["jobs"]
        assert job["state"] == "dead" and job["reason"] == "rejected" and job["attempts"][0]["status"] == 400
        failed = (await http.get("/api/events", params={"status": "failed", "limit": "1"}, headers=AUTH)).json()
        [retrying] = (await http.get(f"/api/events/{failed['data'][0]['id']}", headers=AUTH)).json()["jobs"]
        assert retrying["state"] == "retrying" and len(retrying["attempts"]) == 1
        runs = (await http.get("/api/executions", params={"workflow": "wf-b", "status": "FAILED"}, headers=AUTH)).json()
        assert runs["total"] == len(model.matching(EventFilter(status="dead")))
        first = runs["workflowExecutions"][0]
        assert first["status"] == "FAILED" and first["workflowId"] == "wf-b" and first["runDuration"] >= 0
        one = (await http.get(f"/api/executions/{first['id']}", headers=AUTH)).json()
        assert one == first
        assert (await http.get("/api/executions/1-0:nope:x", headers=AUTH)).status_code == 404
        assert (await http.get("/api/events/1-0", headers=AUTH)).status_code == 404
        assert (await http.get("/api/events/nope", headers=AUTH)).status_code == 404
        bad = {
            "afterDate=yesterday": "afterDate must be an ISO 8601",
            "beforeDate=2024-13-01": "beforeDate must be an ISO 8601",
            "status=lost": "valid: received, routed, unmatched, delivered, failed, dead",
            "provider_id=T1": "give integration too",
            "limit=0": "limit must be",
            "cursor=%%%": "cursor",
        }
        for params_text, message in bad.items():
            answer = await http.get(f"/api/events?{params_text}", headers=AUTH)
            assert answer.status_code == 400 and message in answer.json()["message"], params_text
        assert (await http.get("/api/executions?status=DONE", headers=AUTH)).status_code == 400
        for path in ("/api/events", "/api/events/1-0", "/api/executions", "/api/executions/x"):
            assert (await http.get(path)).status_code == 401
        offset = await http.get("/api/events", params={"afterDate": "2000-01-01T02:00:00+02:00"}, headers=AUTH)
        assert offset.status_code == 200 and offset.json()["total"] == len(model.rows)


def _utc_ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


async def test_an_event_posted_to_the_receiver_is_received_then_routed(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_slack(seed)
    async with running(settings) as http:
        [event_id] = (await post_slack(http, slack_event())).json()["ids"]
        listed = (await http.get("/api/events", params={"status": "received"}, headers=AUTH)).json()
        assert [e["id"] for e in listed["data"]] == [event_id] and listed["data"][0]["status"] == "received"
        await make_worker(redis, registry).run_once()
        routed = (await http.get("/api/events", params={"user": "u1"}, headers=AUTH)).json()
        assert [e["status"] for e in routed["data"]] == ["routed"]
        assert routed["data"][0]["routing"]["status"] == "matched"


async def test_the_schema_describes_every_history_route_and_real_answers_fit_it(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_world(seed)
    await preload(redis, 60, int(time.time() * 1000) - DAY_MS, 600_000)
    await route_all(make_worker(redis, registry, batch=500))
    await deliver_all(redis, registry)
    model = await truth(redis)
    shown = {s: ids[-1] for s in STATUSES if (ids := model.matching(EventFilter(status=s)))}
    assert {"routed", "unmatched", "delivered", "failed", "dead"} <= set(shown)  # every kind of job state
    async with running(settings) as http:
        schema = (await http.get("/api/openapi.json")).json()
        first = await http.get("/api/events", params={"limit": "5", "userId": "u4"}, headers=AUTH)
        answers = [first, await http.get(first.json()["next"], headers=AUTH)]
        answers += [await http.get(f"/api/events/{event_id}", headers=AUTH) for event_id in shown.values()]
        runs = await http.get("/api/executions", params={"limit": "3", "workflowId": "wf-b"}, headers=AUTH)
        answers += [runs, await http.get(f"/api/executions/{runs.json()['data'][0]['id']}", headers=AUTH)]
        answers += [
            await http.get("/api/events/1-0", headers=AUTH),
            await http.get("/api/events?limit=0", headers=AUTH),
        ]
    assert [a.status_code for a in answers] == [200] * (len(answers) - 2) + [404, 400]
    for answer in answers:
        fits(history.router, answer)
    page, runs_page = first.json(), runs.json()
    assert page["nextLink"] == page["next"] and page["data"][0]["received_at_iso"].endswith("Z")
    assert runs_page["workflowExecutions"] == runs_page["data"] and runs_page["nextLink"] == runs_page["next"]
    dead = answers[2 + list(shown).index("dead")].json()
    assert dead["jobs"][0]["ended_at_iso"] and dead["jobs"][0]["attempts"][0]["at_iso"]

    events = parameters(schema, "GET", "/events")
    assert set(events) == {*EVENT_FILTERS, "user", "userId", "afterDate", "beforeDate", "limit", "cursor"}
    assert deprecated(events) == {"userId"}
    assert events["status"]["schema"]["enum"] == list(STATUSES) and events["limit"]["schema"]["type"] == "integer"
    executions = parameters(schema, "GET", "/executions")
    assert set(executions) == {"workflow", "workflowId", "user", "userId", "status", "afterDate", "beforeDate"} | {
        "limit",
        "cursor",
    }
    assert deprecated(executions) == {"workflowId", "userId"}
    assert set(parameters(schema, "GET", "/events/{event_id}")) == {"event_id"}
    assert set(parameters(schema, "GET", "/executions/{job_id}")) == {"job_id"}
    assert component(schema, "EventsPage")["properties"]["nextLink"]["deprecated"] is True
    assert component(schema, "ExecutionsPage")["properties"]["workflowExecutions"]["deprecated"] is True
    for path in ("/events", "/events/{event_id}", "/executions", "/executions/{job_id}"):
        assert operation(schema, "GET", path)["summary"] and "requestBody" not in operation(schema, "GET", path)


EVENT_FILTERS = ("project", "integration", "credential", "provider_id", "event_type", "status")
