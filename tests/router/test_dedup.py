from __future__ import annotations

import asyncio
import json

import pytest
from redis.asyncio import Redis

from router.settings import Settings
from router.storage.keys import Keys
from tests.router.conftest import ADMIN_TOKEN, Seed, make_settings, running, seed_slack, xrange_all
from tests.router.test_ingest import post_slack, slack_event
from tests.verifiers import test_github

pytestmark = pytest.mark.anyio
KEYS = Keys()


async def test_a_repeated_delivery_is_answered_2xx_stored_once_and_counted(
    settings: Settings, seed: Seed, redis: Redis
) -> None:
    await seed_slack(seed)
    async with running(settings) as http:
        first = await post_slack(http, slack_event(event_id="EvSame"))
        again = await post_slack(http, slack_event(event_id="EvSame"), **{"x-slack-retry-num": "1"})
        other = await post_slack(http, slack_event(event_id="EvOther"))
        listed = await http.get("/api/integrations", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    assert first.status_code == again.status_code == other.status_code == 200
    assert again.json() == {"ids": first.json()["ids"], "duplicates": 1}
    assert len(await xrange_all(redis, KEYS.ingest)) == 2
    assert listed.json()["data"][0]["duplicates"] == 1


async def test_concurrent_retries_race_to_one_stored_event(settings: Settings, seed: Seed, redis: Redis) -> None:
    await seed_slack(seed)
    async with running(settings) as http:
        replies = await asyncio.gather(*(post_slack(http, slack_event(event_id="EvRace")) for _ in range(20)))
    assert {r.status_code for r in replies} == {200}
    assert len({r.json()["ids"][0] for r in replies}) == 1
    assert sum("duplicates" in r.json() for r in replies) == 19
    assert len(await xrange_all(redis, KEYS.ingest)) == 1


async def test_the_window_expires_and_is_per_provider(redis_url: str, seed: Seed, redis: Redis) -> None:
    await seed_slack(seed)
    await seed(integration=[{"id": "gh", "type": "github", "secrets": ["s"]}])
    body = json.dumps({"action": "opened"}).encode()
    settings = make_settings(redis_url, dedup_window_s=1, dedup_windows={"github": 0})
    async with running(settings) as http:
        await post_slack(http, slack_event(event_id="EvTTL"))
        await asyncio.sleep(1.1)
        after_window = await post_slack(http, slack_event(event_id="EvTTL"))
        gh_headers = test_github.sign(body, secret="s", event="issues", delivery="d-1")
        gh = [
            await http.post("/webhook/triggers/connect/github/gh", content=body, headers=gh_headers) for _ in range(2)
        ]
    assert "duplicates" not in after_window.json()
    assert all("duplicates" not in r.json() for r in gh)  # window 0: deduplication off for GitHub
    assert len(await xrange_all(redis, KEYS.ingest)) == 4


async def test_a_refused_delivery_is_not_marked_seen(settings: Settings, seed: Seed, redis: Redis) -> None:
    await seed_slack(seed)
    async with running(settings) as http:
        forged = await http.post(
            "/webhook/triggers/connect/slack/slack-app",
            content=slack_event(event_id="EvX"),
            headers={"x-slack-signature": "v0=00"},
        )
        real = await post_slack(http, slack_event(event_id="EvX"))
    assert forged.status_code == 401 and real.status_code == 200 and "duplicates" not in real.json()


def test_long_delivery_ids_give_bounded_keys() -> None:
    key = KEYS.seen("p", "i", "x" * 10_000)
    assert len(key) < 120 and key.startswith("hr:{ingest}:dedup:p:i:sha256=")
    assert KEYS.seen_before("i", "x" * 10_000) is None


async def _github(seed: Seed, *integrations: tuple[str, str]) -> None:
    await seed(
        project=[{"id": project} for project in sorted({p for _, p in integrations})],
        integration=[{"id": i, "project": p, "type": "github", "secrets": ["s"]} for i, p in integrations],
    )


async def test_deliveries_whose_joined_ids_coincide_are_not_duplicates(
    settings: Settings, seed: Seed, redis: Redis
) -> None:
    # Joined raw, integration "a:b" with delivery "X-123" and integration "a" with delivery "b:X-123" named one
    # marker: the second project's event was answered as a duplicate and never stored.
    await _github(seed, ("a:b", "p1"), ("a", "p2"))
    body = json.dumps({"action": "opened"}).encode()
    async with running(settings) as http:
        first = await http.post(
            "/webhook/triggers/connect/github/a:b",
            content=body,
            headers=test_github.sign(body, secret="s", delivery="X-123"),
        )
        second = await http.post(
            "/webhook/triggers/connect/github/a",
            content=body,
            headers=test_github.sign(body, secret="s", delivery="b:X-123"),
        )
    assert first.status_code == second.status_code == 200
    assert "duplicates" not in second.json() and second.json()["ids"] != first.json()["ids"]
    stored = await xrange_all(redis, KEYS.ingest)
    assert sorted(f[b"project"] for _, f in stored) == [b"p1", b"p2"]


async def test_markers_of_earlier_versions_still_count_where_they_are_unambiguous(
    settings: Settings, seed: Seed, redis: Redis
) -> None:
    await _github(seed, ("gh", "p1"), ("gh:x", "p1"))
    # What an earlier version left for delivery d-1 of "gh", and for "gh:x" + "d-2" (ambiguous: "gh" + "x:d-2").
    await redis.set("hr:{ingest}:seen:gh:d-1", "1-1", ex=60)
    await redis.set("hr:{ingest}:seen:gh:x:d-2", "1-2", ex=60)
    body = json.dumps({"action": "opened"}).encode()
    async with running(settings) as http:
        again = await http.post(
            "/webhook/triggers/connect/github/gh",
            content=body,
            headers=test_github.sign(body, secret="s", delivery="d-1"),
        )
        new = await http.post(
            "/webhook/triggers/connect/github/gh:x",
            content=body,
            headers=test_github.sign(body, secret="s", delivery="d-2"),
        )
    assert again.json() == {"ids": ["1-1"], "duplicates": 1}
    assert "duplicates" not in new.json()
    assert KEYS.seen_before("gh:x", "d-2") is None and KEYS.seen_before("gh", "x:d-2") is None


@pytest.mark.parametrize(("before", "after"), [(1, 4), (4, 2)])
async def test_a_retry_after_a_change_of_n_finds_the_event_in_its_shard_before_the_change(
    before: int, after: int, redis_url: str, seed: Seed, redis: Redis
) -> None:
    """The delivery's marker is in the tenant's shard under the old N; while that N is drained, a provider's retry
    under the new N is answered as a duplicate with the event stored there, and stored nowhere again. Once the
    drained shards are forgotten, the old marker is not looked at (the window should have passed by then)."""
    team = next(
        f"T{n}"
        for n in range(100)
        if Keys(shards=before).shard_of("slack-app", f"T{n}") != Keys(shards=after).shard_of("slack-app", f"T{n}")
    )
    await seed_slack(seed)
    old, draining = Keys(shards=before), Keys(shards=after, draining=before)
    assert draining.before_change("slack-app", team) is not None

    async def stored() -> list[str]:
        return [entry.decode() for shard in draining.every_shard for entry, _ in await xrange_all(redis, shard.ingest)]

    async with running(make_settings(redis_url, shards=before)) as http:
        first = await post_slack(http, slack_event(team=team, event_id="EvAcrossN"))
    [first_id] = first.json()["ids"]
    assert len(await stored()) == 1
    async with running(make_settings(redis_url, shards=after, shards_draining=before)) as http:
        again = await post_slack(http, slack_event(team=team, event_id="EvAcrossN"), **{"x-slack-retry-num": "1"})
        other = await post_slack(http, slack_event(team=team, event_id="EvOtherAcrossN"))
        listed = await http.get("/api/integrations", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    assert again.status_code == 200 and again.json() == {"ids": [first_id], "duplicates": 1}
    assert "duplicates" not in other.json()
    assert len(await stored()) == 2  # the first delivery, and the other event: the retry was not stored again
    assert listed.json()["data"][0]["duplicates"] == 1
    assert old.of_event("slack-app", team).index != draining.of_event("slack-app", team).index
    # Without the drained shards named, the old shard's marker is not consulted: the retry would be stored again.
    async with running(make_settings(redis_url, shards=after)) as http:
        late = await post_slack(http, slack_event(team=team, event_id="EvAcrossN"))
    assert "duplicates" not in late.json() and len(await stored()) == 3
