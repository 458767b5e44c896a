"""The Task History API, end to end over HTTP on a real Redis, checked against the platform's documentation: its
example queries, its JSON shapes, its pagination (100 a page, ``nextLink``, ``total``), its statuses, its
API-key authorization and its rate limit."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis

from router.history.replay import ReplayRunner
from router.history.replay_jobs import ReplayJobs
from router.platform_api.rate_limit import LIMIT, RateLimit
from router.settings import Settings
from router.storage.keys import Keys
from router.storage.store import EventStore
from subscriptions.api_keys import ApiKeys
from subscriptions.keys import RegistryKeys
from subscriptions.registry import Registry
from tests.router.conftest import ADMIN_TOKEN, Seed, make_settings, make_worker, running, xrange_all
from tests.router.test_history import deliver_all, route_all
from tests.router.test_replay import replayer

pytestmark = pytest.mark.anyio
KEYS = Keys()
BASE = "/projects/p1/task-history/workflow-executions"
OPERATOR = {"authorization": f"Bearer {ADMIN_TOKEN}"}
HTTP_TARGET = {
    "type": "http",
    "url": "https://target.test/hook",
    "secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    "breaker_failures": 1000,
    "rate_per_s": 100_000,
    "burst": 100_000,
    "max_concurrency": 100,
}
# The documentation's example query (L2100) and the week it names, with HubSpot for Salesforce (which has no
# webhooks to receive here).
DOC_QUERY = "integration=hubspot&afterDate=2023-02-16T00:00:00&beforeDate=2023-02-23T00:00:00"
WEEK = (datetime(2023, 2, 16, tzinfo=UTC), datetime(2023, 2, 23, tzinfo=UTC))
SUMMARY_MEMBERS = ["id", "userId", "taskCount", "runDuration", "workflowId", "status", "dateEnded", "dateStarted"]
STEP_MEMBERS = [*SUMMARY_MEMBERS, "stepExecutions"]


async def seed_world(seed: Seed) -> None:
    """A HubSpot app (its workflow is a runner's stream) and a Slack app (an HTTP target), two users each."""
    await seed(
        project=[{"id": "p1"}, {"id": "p2"}],
        integration=[
            {"id": "sf-app", "type": "hubspot", "secrets": ["s"]},
            {"id": "slack-app", "type": "slack", "secrets": ["s"]},
        ],
        user=[{"id": "u1"}, {"id": "test@example.com"}],
        credential=[
            {"id": "sf-u1", "user": "u1", "integration": "sf-app", "provider_id": "ORG1"},
            {"id": "sf-u2", "user": "test@example.com", "integration": "sf-app", "provider_id": "ORG2"},
            {"id": "sl-u1", "user": "u1", "integration": "slack-app", "provider_id": "T1"},
            {"id": "sl-u2", "user": "test@example.com", "integration": "slack-app", "provider_id": "T2"},
        ],
        workflow=[
            {"id": "wf-sf", "integration": "sf-app", "trigger": "*"},
            {"id": "wf-slack", "integration": "slack-app", "trigger": "*", "target": HTTP_TARGET},
        ],
        activate=[(wf, u) for wf in ("wf-sf", "wf-slack") for u in ("u1", "test@example.com")],
    )


async def preload(redis: Redis, count: int) -> None:
    """Events from 2023-02-14 to 2023-02-25, about half HubSpot, a few in project p2."""
    rng = random.Random(11)  # noqa: S311 - reproducible test data
    start = int(datetime(2023, 2, 14, tzinfo=UTC).timestamp() * 1000)
    async with redis.pipeline(transaction=False) as pipe:
        for n in range(count):
            ms = start + n * (11 * 86_400_000 // count)
            hubspot = rng.random() < 0.55
            fields = {
                "source": "webhook",
                "project": "p2" if rng.random() < 0.1 else "p1",
                "integration": "sf-app" if hubspot else "slack-app",
                "integration_type": "hubspot" if hubspot else "slack",
                "provider_id": rng.choice(["ORG1", "ORG2"] if hubspot else ["T1", "T2"]),
                "credential": "",
                "event_type": "updated",
                "delivery_id": "",
                "received_at": ms,
                "headers": "{}",
                "body": json.dumps({"mark": rng.choice(["ok", "ok", "reject", "flaky"])}).encode(),
            }
            pipe.xadd(KEYS.ingest, fields, id=f"{ms}-0")  # type: ignore[arg-type]
        await pipe.execute()


async def truth(redis: Redis) -> list[dict[str, Any]]:
    """Every execution, oldest first, worked out the slow way from entries, outcomes and delivery records."""
    rows = []
    for entry_id, fields in await xrange_all(redis, KEYS.ingest):
        outcome = json.loads(await redis.hget(KEYS.outcomes, entry_id.decode()) or b'{"jobs": []}')
        for job in outcome["jobs"]:
            ended: bytes | None = await redis.hget(KEYS.delivery_history(job["job_id"]), "status")  # type: ignore[assignment]
            waiting = await redis.hget(KEYS.delivery_job(job["job_id"]), "attempts")
            status = {b"delivered": "SUCCEEDED", b"dead": "FAILED", None: "EXECUTING"}[ended]
            if ended is None and waiting and json.loads(waiting):
                status = "DELAYED"
            rows.append(
                {
                    "id": job["job_id"],
                    "ms": int(entry_id.split(b"-")[0]),
                    "project": fields[b"project"].decode(),
                    "integration": fields[b"integration_type"].decode(),
                    "user": job["user"],
                    "workflow": job["workflow"],
                    "status": status,
                }
            )
    return sorted(rows, key=lambda r: (r["ms"], r["id"]))


def in_week(row: dict[str, Any]) -> bool:
    ms: int = row["ms"]
    return WEEK[0].timestamp() * 1000 <= ms < WEEK[1].timestamp() * 1000


@pytest.fixture
async def world(seed: Seed, redis: Redis, registry: Registry) -> list[dict[str, Any]]:
    await seed_world(seed)
    await preload(redis, 800)
    await route_all(make_worker(redis, registry, batch=500))
    await deliver_all(redis, registry)
    return await truth(redis)


async def key(redis: Redis, *scopes: str) -> dict[str, str]:
    _, token = await ApiKeys(redis, RegistryKeys()).create("task history", scopes)
    return {"authorization": f"Bearer {token}"}


async def test_the_documented_query_pages_by_100_with_next_links_as_documented(
    settings: Settings, redis: Redis, redis_url: str, world: list[dict[str, Any]]
) -> None:
    expected = [r["id"] for r in world if r["project"] == "p1" and r["integration"] == "hubspot" and in_week(r)]
    assert 200 < len(expected) < 300  # three pages, the last one short
    auth = await key(redis, "project:p1:read")
    async with running(settings) as http:
        first = await http.get(f"{BASE}?{DOC_QUERY}&sortBy=ASC", headers=auth)
        assert first.status_code == 200 and first.headers["content-type"] == "application/json"
        page = first.json()
        assert list(page) == ["workflowExecutions", "nextLink", "total"]
        # The documented link, on this host and project: the filters as given, then sortBy and offset.
        assert page["nextLink"] == f"http://hooks.test{BASE}?{DOC_QUERY}&sortBy=ASC&offset=100"
        seen, totals = [e["id"] for e in page["workflowExecutions"]], {page["total"]}
        assert len(seen) == 100
        while page["nextLink"]:
            page = (await http.get(page["nextLink"], headers=auth)).json()
            seen += [e["id"] for e in page["workflowExecutions"]]
            totals.add(page["total"])
        assert seen == expected and totals == {len(expected)}
        assert page["nextLink"] is None  # "nextLink is `null` if there are no more results"

        newest = (await http.get(f"{BASE}?{DOC_QUERY}", headers=auth)).json()
        assert [e["id"] for e in newest["workflowExecutions"]] == expected[::-1][:100]  # DESC by default
        assert newest["nextLink"].endswith(f"?{DOC_QUERY}&sortBy=DESC&offset=100")
        last = (await http.get(f"{BASE}?{DOC_QUERY}&offset=200", headers=auth)).json()
        assert [e["id"] for e in last["workflowExecutions"]] == expected[::-1][200:]
        assert last["nextLink"] is None and last["total"] == len(expected)
    # Behind a proxy, the links name the public host clients were given, never the request's Host.
    async with running(make_settings(redis_url, public_url="https://zeus.example.com/")) as http:
        linked = (await http.get(f"{BASE}?{DOC_QUERY}", headers={**auth, "host": "attacker.test"})).json()
        assert linked["nextLink"] == f"https://zeus.example.com{BASE}?{DOC_QUERY}&sortBy=DESC&offset=100"


async def test_every_filter_matches_exactly_the_executions_it_names(
    settings: Settings, redis: Redis, world: list[dict[str, Any]]
) -> None:
    p1 = [r for r in world if r["project"] == "p1"]
    cases: list[tuple[str, Any]] = [
        ("", lambda r: True),
        (
            "userId=test@example.com&status=FAILED",
            lambda r: r["user"] == "test@example.com" and r["status"] == "FAILED",
        ),
        ("workflowId=wf-slack", lambda r: r["workflow"] == "wf-slack"),
        ("integration=slack&status=SUCCEEDED", lambda r: r["integration"] == "slack" and r["status"] == "SUCCEEDED"),
        ("status=DELAYED", lambda r: r["status"] == "DELAYED"),
        (
            "status=EXECUTING&integration=hubspot",
            lambda r: r["status"] == "EXECUTING" and r["integration"] == "hubspot",
        ),
        ("afterDate=2023-02-20&beforeDate=2023-02-21T12:00:00Z", lambda r: 1676851200000 <= r["ms"] < 1676980800000),
        ("integration=zoom", lambda r: False),
    ]
    async with running(settings) as http:
        for query, wanted in cases:
            answer = (await http.get(f"{BASE}?{query}&offset=0", headers=OPERATOR)).json()
            matching = [r["id"] for r in p1 if wanted(r)]
            assert answer["total"] == len(matching), query
            assert [e["id"] for e in answer["workflowExecutions"]] == matching[::-1][:100], query
        delayed = (await http.get(f"{BASE}?status=DELAYED", headers=OPERATOR)).json()["total"]
        assert delayed > 0  # the flaky target's jobs wait for their retry
        # Every spelling of a status the documentation uses names the same executions.
        for spellings in (("FAILED", "Errored"), ("SUCCEEDED", "Success"), ("DELAYED", "Paused", "waiting")):
            totals = {(await http.get(f"{BASE}?status={s}", headers=OPERATOR)).json()["total"] for s in spellings}
            assert len(totals) == 1, spellings
        running_ = {
            (await http.get(f"{BASE}?status={s}", headers=OPERATOR)).json()["total"]
            for s in ("Running", "Queued", "Not Started", "EXECUTING")
        }
        assert running_ == {len([r for r in p1 if r["status"] == "EXECUTING"])}
        cancelled = (await http.get(f"{BASE}?status=Cancelled", headers=OPERATOR)).json()
        assert cancelled == {"workflowExecutions": [], "nextLink": None, "total": 0}
        other = (await http.get("/projects/p2/task-history/workflow-executions", headers=OPERATOR)).json()
        assert other["total"] == len([r for r in world if r["project"] == "p2"]) > 0


async def test_an_execution_answers_in_the_documented_shape_with_its_steps(
    settings: Settings, redis: Redis, world: list[dict[str, Any]]
) -> None:
    auth = await key(redis, "project:p1:read")
    async with running(settings) as http:
        # HTTP deliveries end (or wait for a retry); the runner's stream jobs stay executing: it reported nothing.
        for status, workflow in (
            ("SUCCEEDED", "wf-slack"),
            ("FAILED", "wf-slack"),
            ("DELAYED", "wf-slack"),
            ("EXECUTING", "wf-sf"),
        ):
            query = f"status={status}&workflowId={workflow}"
            listed = (await http.get(f"{BASE}?{query}", headers=auth)).json()["workflowExecutions"][0]
            assert list(listed) == SUMMARY_MEMBERS
            detail = await http.get(f"{BASE}/{listed['id']}", headers=auth)
            assert detail.status_code == 200
            one = detail.json()
            assert list(one) == STEP_MEMBERS and one == {**listed, "stepExecutions": []}
            started = datetime.fromisoformat(one["dateStarted"])
            assert one["dateStarted"].endswith("Z") and WEEK[0].year == started.year
            if status in ("SUCCEEDED", "FAILED"):  # the delivery ended: when, and how long it took
                ended = datetime.fromisoformat(one["dateEnded"])
                assert one["runDuration"] == round((ended - started).total_seconds() * 1000)
            else:
                assert one["dateEnded"] is None and one["runDuration"] is None
            assert one["taskCount"] == (1 if status == "SUCCEEDED" else 0)
            assert one["workflowId"] == workflow and one["userId"] in ("u1", "test@example.com")
        elsewhere = next(r for r in world if r["project"] == "p2")
        for path in (f"{BASE}/{elsewhere['id']}", f"{BASE}/1-0:nope:x", f"{BASE}/nope"):
            missing = await http.get(path, headers=auth)
            assert missing.status_code == 404 and missing.json()["code"] == "not_found", path
        assert (
            await http.get(f"/projects/p2/task-history/workflow-executions/{elsewhere['id']}", headers=OPERATOR)
        ).status_code == 200


async def test_a_filter_it_does_not_take_answers_400_naming_it(settings: Settings, seed: Seed) -> None:
    await seed_world(seed)
    bad = {
        "status=DONE": ("status", "valid: EXECUTING, FAILED, SUCCEEDED, DELAYED"),
        "sortBy=NEWEST": ("sortBy", "ASC or DESC"),
        "offset=-1": ("offset", "offset must be an integer"),
        "offset=ten": ("offset", "offset must be an integer"),
        "offset=100001": ("offset", "offset must be an integer"),
        "afterDate=yesterday": ("afterDate", "ISO 8601"),
        "beforeDate=2023-13-01": ("beforeDate", "ISO 8601"),
        "limit=5": ("limit", "unknown parameter"),
        "status=FAILED&status=SUCCEEDED": ("status", "more than once"),
    }
    async with running(settings) as http:
        for query, (field, message) in bad.items():
            answer = await http.get(f"{BASE}?{query}", headers=OPERATOR)
            assert answer.status_code == 400, query
            assert answer.headers["content-type"] == "application/problem+json"
            body = answer.json()
            assert body["code"] == "bad_filter" and message in body["detail"], query
            assert body["errors"][0]["field"] == field, query


async def test_a_project_api_key_is_needed_and_must_hold_the_project(
    settings: Settings, seed: Seed, redis: Redis
) -> None:
    await seed_world(seed)
    keys = ApiKeys(redis, RegistryKeys())
    revoked, revoked_token = await keys.create("gone", ["project:p1:read"])
    await keys.revoke(revoked.id)
    async with running(settings) as http:
        for headers in ({}, {"authorization": "Bearer nope"}, {"authorization": f"Bearer {revoked_token}"}):
            answer = await http.get(BASE, headers=headers)
            assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
        refused = await http.get(BASE, headers=await key(redis, "project:p2:write"))
        assert refused.status_code == 403 and refused.json()["required"] == "project:p1:read"
        for scopes in (("project:p1:read",), ("project:p1:write",), ("operator",)):
            assert (await http.get(BASE, headers=await key(redis, *scopes))).status_code == 200, scopes
        assert (await http.get(f"{BASE}/1-0:x:y", headers=await key(redis, "project:p2:read"))).status_code == 403


async def test_a_key_past_1000_requests_in_10_minutes_gets_429_with_retry_after(
    settings: Settings, seed: Seed, redis: Redis
) -> None:
    await seed_world(seed)
    created, token = await ApiKeys(redis, RegistryKeys()).create("busy", ["project:p1:read"])
    limit = RateLimit(EventStore(redis, maxlen=1, group="g", consumer="c"), KEYS)
    for _ in range(LIMIT - 1):
        assert await limit.take(created.id) == 0
    auth = {"authorization": f"Bearer {token}"}
    async with running(settings) as http:
        assert (await http.get(BASE, headers=auth)).status_code == 200  # the 1,000th
        refused = await http.get(BASE, headers=auth)
        assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
        assert 590 <= int(refused.headers["retry-after"]) <= 600
        assert (await http.get(f"{BASE}/1-0:x:y", headers=auth)).status_code == 429  # every route counts
        assert (await http.get(BASE, headers=await key(redis, "project:p1:read"))).status_code == 200  # per key
    assert 0 < await redis.pttl(KEYS.api_window(created.id)) <= 600_000  # the window bounds itself


async def test_the_window_slides_and_frees_a_place_as_the_oldest_request_leaves(redis: Redis) -> None:
    now = [1_700_000_000.0]
    store = EventStore(redis, maxlen=1, group="g", consumer="c")
    limit = RateLimit(store, KEYS, limit=3, window_s=10, clock=lambda: now[0])
    for _ in range(3):  # at +0, +1 and +2
        assert await limit.take("k") == 0
        now[0] += 1
    now[0] += 2
    assert await limit.take("k") == 5  # at +5: the request made at +0 leaves the window at +10
    assert await limit.take("other") == 0  # per key
    now[0] += 5
    assert await limit.take("k") == 0  # at +10 it has left
    assert await limit.take("k") == 1  # the next to leave is the one made at +1
    assert await redis.zcard(KEYS.api_window("k")) == 3  # never more than the limit


async def test_replay_delivers_that_one_execution_again_and_steps_are_not_reported(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_world(seed)
    await preload(redis, 20)
    await route_all(make_worker(redis, registry, batch=500))
    [original, *_] = [r for r in await truth(redis) if r["project"] == "p1" and r["workflow"] == "wf-sf"]
    path = f"{BASE}/{original['id']}"
    before = len(await xrange_all(redis, KEYS.triggers("wf-sf")))
    writer = await key(redis, "project:p1:write")
    async with running(settings) as http:
        refused = await http.post(f"{path}/replay", headers=await key(redis, "project:p1:read"))
        assert refused.status_code == 403 and refused.json()["required"] == "project:p1:write"
        answer = await http.post(f"{path}/replay", headers=writer)
        assert answer.status_code == 201 and answer.content == b""  # "201: Created"
        assert (await http.post(f"{BASE}/1-0:nope:x/replay", headers=writer)).status_code == 404
        step = await http.get(f"{path}/step-executions/5fec7d78-7e10-4b4a-bdfc-292f629774bf", headers=writer)
        assert step.status_code == 404 and "did not report it" in step.json()["detail"]
        trail = (await http.get("/api/audit", headers=OPERATOR)).json()["data"]
    assert [(e["action"], e["status"]) for e in trail[:3]] == [
        ("replay_execution", 404),
        ("replay_execution", 201),
        ("replay_execution", 403),
    ]
    assert await ReplayRunner(replayer(redis, registry), ReplayJobs(redis, KEYS), owner="w1").run_once()
    jobs = await xrange_all(redis, KEYS.triggers("wf-sf"))
    [(_, again)] = jobs[before:]  # that execution's trigger, and no other job of its event
    assert again[b"replay_of_job"].decode() == original["id"]
    assert again[b"job_id"].decode().startswith(original["id"] + ":replay:")
