"""``GET /api/stats``: traffic counts written where each event happens, read per time bucket, scoped like the rest
of the admin API."""

from __future__ import annotations

import time

import pytest
from redis.asyncio import Redis

from router.history import stats
from router.settings import Settings
from router.storage.keys import ROUTING_GROUP, Keys
from router.storage.store import Append, EventStore
from subscriptions.api_keys import ApiKeys
from subscriptions.keys import RegistryKeys
from subscriptions.registry import Registry
from tests.router.conftest import ADMIN_TOKEN, SLACK_URL, Seed, make_worker, running, seed_slack
from tests.router.test_ingest import post_slack, signed, slack_event

pytestmark = pytest.mark.anyio
AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}


async def _traffic(http: object, redis: Redis, registry: Registry) -> None:
    assert (await post_slack(http, slack_event(event_id="EvA"))).status_code == 200  # type: ignore[arg-type]
    assert (await post_slack(http, slack_event(event_id="EvB"))).status_code == 200  # type: ignore[arg-type]
    repeat = await post_slack(http, slack_event(event_id="EvA"))  # type: ignore[arg-type]
    assert repeat.status_code == 200  # the provider's retry: answered, not stored again
    body = slack_event(event_id="EvForged")
    forged = await http.post(  # type: ignore[attr-defined]
        SLACK_URL, content=body, headers={**signed(body, "not-the-secret"), "content-type": "application/json"}
    )
    assert forged.status_code == 401
    unmatched = slack_event(team="T-NOBODY", event_id="EvC")  # stored, but no credential: not routed
    assert (await post_slack(http, unmatched)).status_code == 200  # type: ignore[arg-type]
    worker = make_worker(redis, registry)
    while await worker.run_once():
        pass


async def test_one_call_answers_every_series_per_bucket(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed(project=[{"id": "p1"}])
    await seed_slack(seed)
    async with running(settings) as http:
        before = (await http.get("/api/stats", headers=AUTH)).json()
        await _traffic(http, redis, registry)
        answer = await http.get("/api/stats", headers=AUTH, params={"bucket": "1h"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["bucket"] == "1h" and body["project"] is None and len(body["buckets"]) == 12
    assert sum(b["stored"] for b in before["buckets"]) == 0
    totals = {k: sum(b[k] for b in body["buckets"]) for k in ("received", "stored", "duplicate", "routed")}
    failed = sum(b["failed_verification"] for b in body["buckets"])
    assert totals == {"received": 5, "stored": 3, "duplicate": 1, "routed": 2} and failed == 1
    last = body["buckets"][-1]
    assert last["stored"] == 3 and last["end"] == body["until"]  # the current hour holds it all
    starts = [b["start"] for b in body["buckets"]]
    assert starts == sorted(starts) and all(s % 3_600_000 == 0 for s in starts)
    assert body["buckets"][0]["start_iso"].endswith("Z")


async def test_a_reroute_after_a_crash_does_not_count_twice(redis: Redis) -> None:
    keys = Keys()
    store = EventStore(redis, maxlen=1000, group=ROUTING_GROUP, consumer="c", counted=stats.counted(keys))
    event_id = await store.append(keys.ingest, {"project": "p1", "integration": "i"})
    outcome = '{"status":"matched","jobs":[]}'
    for _ in range(2):  # routed, not acked, routed again
        await store.write([], {event_id: outcome}, keys.outcomes, routed={event_id: "p1"})
    minute = int(event_id.split("-")[0]) // 60_000
    counts = await redis.hgetall(keys.stats(minute))
    assert counts == {b"stored": b"1", b"stored|p1": b"1", b"routed": b"1", b"routed|p1": b"1"}
    assert 0 < await redis.ttl(keys.stats(minute)) <= stats.TTL_S
    # A replay's copy appended through write() is stored again, and counted.
    await store.write([Append(keys.ingest, {"project": "p1", "replay_of": event_id})], {}, keys.outcomes)
    now = int(time.time() * 1000) // 60_000
    stored = [await redis.hget(keys.stats(m), "stored|p1") for m in {minute, now}]
    assert sum(int(n or 0) for n in stored) == 2


async def test_a_project_key_reads_its_own_project_only(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed(project=[{"id": "p1"}, {"id": "p2"}])
    await seed_slack(seed)
    _, reader = await ApiKeys(redis, RegistryKeys()).create("p1", ["project:p1:read"])
    key = {"authorization": f"Bearer {reader}"}
    async with running(settings) as http:
        await _traffic(http, redis, registry)
        mine = await http.get("/api/stats", headers=key, params={"project": "p1", "bucket": "15m"})
        everyone = await http.get("/api/stats", headers=key)
        other = await http.get("/api/stats", headers=key, params={"project": "p2"})
        theirs = await http.get("/api/stats", headers=AUTH, params={"project": "p2"})
    assert mine.status_code == 200 and sum(b["stored"] for b in mine.json()["buckets"]) == 3
    assert sum(b["failed_verification"] for b in mine.json()["buckets"]) == 1
    first, second = mine.json()["buckets"][:2]
    assert len(mine.json()["buckets"]) == 12 and second["start"] - first["start"] == 900_000
    assert everyone.status_code == 403 and other.status_code == 403
    assert theirs.status_code == 200 and sum(b["received"] for b in theirs.json()["buckets"]) == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"bucket": "7m"}, "bucket"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2020-01-01T00:00:00Z"}, "since"),
        ({"since": "2999-01-01"}, "since"),
    ],
)
async def test_bad_parameters_are_problems(settings: Settings, params: dict[str, str], field: str) -> None:
    async with running(settings) as http:
        answer = await http.get("/api/stats", headers=AUTH, params=params)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"][0]["field"] == field


async def test_since_starts_the_buckets(settings: Settings) -> None:
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3 * 3600 - 90))
    async with running(settings) as http:
        answer = await http.get("/api/stats", headers=AUTH, params={"since": since, "bucket": "1h"})
    body = answer.json()
    assert answer.status_code == 200 and len(body["buckets"]) == 4
    assert body["since"] % 60_000 == 0 and body["buckets"][0]["end"] - body["buckets"][0]["start"] == 3_600_000
