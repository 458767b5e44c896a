"""Shards (HOOKROUTER_SHARDS): the same events stored in one shard and in four answer every history query with the
same ids, order, totals and pages; ingest, routing, delivery, replay and retention work per shard; and a change of
N is drained without losing or repeating an event."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from redis.crc import REDIS_CLUSTER_HASH_SLOTS as SLOTS
from redis.crc import key_slot

from router.delivery.limits import Limiter
from router.delivery.worker import DeliveryConfig, DeliveryWorker
from router.history import stats
from router.history.indexes import STATUSES, EventFilter, EventIndex, JobFilter, Page, score
from router.history.replay import ReplayConfig, Replayer, ReplayRunner
from router.history.replay_jobs import ReplayJobs
from router.routing.worker import RoutingWorker, WorkerConfig
from router.runtime.exposition import ingest_shards
from router.runtime.trimming import retention, streams_of
from router.storage.entries import IngestEvent
from router.storage.keys import DELIVERY_GROUP, ROUTING_GROUP, Keys, ShardStream, shard_tag
from router.storage.store import Append, EventStore
from router.storage.stream_id import InvalidStreamId, StreamId, event_id
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache
from tests.router.conftest import ADMIN_TOKEN, MASTER_KEY, Seed, make_settings, running, xrange_all
from tests.router.loopback import Reply, http_sink
from tests.router.test_cli import cli_env, hookrouter
from tests.router.test_history import HOUR, Target, fields_for, seed_world
from tests.router.test_ingest import post_slack, slack_event
from tests.router.waiting import eventually

pytestmark = pytest.mark.anyio
AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}
FAST = ReplayConfig(rate_per_s=None, backlog_max=None)
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def stores(redis: Redis, keys: Keys, group: str = ROUTING_GROUP) -> EventStore:
    return EventStore(redis, maxlen=100_000, group=group, consumer="w1", counted=stats.counted(keys))


async def route_every_shard(redis: Redis, registry: Registry, keys: Keys) -> int:
    """Route until every shard's backlog is empty, one worker per shard as a process runs them; returns how many."""
    store = stores(redis, keys)
    cache = SnapshotCache(registry, refresh_s=0.05)
    workers = [RoutingWorker(store, cache, k, WorkerConfig(block_ms=0, batch=200)) for k in keys.every_shard]
    routed = 0
    while n := sum([await w.run_once() for w in workers]):
        routed += n
    return routed


async def deliver_every_shard(redis: Redis, registry: Registry, keys: Keys) -> None:
    async with httpx.AsyncClient(transport=Target()) as http:
        store = EventStore(redis, maxlen=100_000, group=DELIVERY_GROUP, consumer="d1")
        config = DeliveryConfig(block_ms=0, retry=HOUR, batch=100, in_flight=8)
        cache = SnapshotCache(registry, refresh_s=0.05)
        workers = [DeliveryWorker(store, cache, k, Limiter(redis, k), http, config) for k in keys.every_shard]

        async def due() -> int:
            soon = time.time() + 60
            return sum([int(await redis.zcount(k.delivery_scheduled, "-inf", soon)) for k in keys.every_shard])

        while sum([await w.run_once() for w in workers]) or await due():
            await asyncio.sleep(0.01)


async def preload_twice(redis: Redis, one: Keys, many: Keys, count: int, start_ms: int) -> dict[str, str]:
    """The same entries, with the same stream ids, in ``one``'s single shard and in the shard ``many`` puts each
    tenant in. Returns the event id in ``many`` → the event id in ``one``."""
    rng = random.Random(5)  # noqa: S311 - reproducible test data, not secrets
    ms, seq = start_ms, 0
    twins: dict[str, str] = {}
    async with redis.pipeline(transaction=False) as pipe:
        for n in range(count):
            if n % 10 == 9:
                seq += 1  # every tenth shares its millisecond with the one before
            else:
                ms, seq = ms + 600_000, 0
            fields = fields_for(rng, ms)
            entry = f"{ms}-{seq}"
            shard = many.of_event(str(fields["integration"]), str(fields["provider_id"]))
            pipe.xadd(one.ingest, fields, id=entry)  # type: ignore[arg-type]
            pipe.xadd(shard.ingest, fields, id=entry)  # type: ignore[arg-type]
            twins[event_id(entry, shard.index)] = entry
        await pipe.execute()
    return twins


def unsharded(member: str) -> str:
    """An event or job id with its event id's shard taken off: what the same event is called in one shard."""
    head, _, rest = member.partition(":")
    entry = StreamId.parse(head, event=True).entry
    return f"{entry}:{rest}" if rest else entry


async def pages(query: Any, limit: int, newest_first: bool) -> list[Page]:
    out: list[Page] = []
    cursor: str | None = None
    while True:
        out.append(await query(cursor=cursor, limit=limit, newest_first=newest_first))
        cursor = out[-1].next_cursor
        if cursor is None:
            return out


# -- keys and ids


def test_one_shard_keeps_every_key_name_and_shard_0_keeps_them_at_any_n() -> None:
    one, four = Keys(), Keys(shards=4)
    assert one.ingest == "hr:{ingest}:events" and one.shard_of("slack", "T1") == 0
    for name in ("ingest", "outcomes", "duplicates", "delivery_jobs", "delivery_scheduled", "index_registry"):
        assert getattr(four.shard(0), name) == getattr(one, name)
    tag = shard_tag("ingest", 3)
    assert tag.startswith("ingest:3") and tag == shard_tag("ingest", 3)  # one name, whatever N is
    assert four.shard(3).ingest == f"hr:{{{tag}}}:events" == Keys(shards=16).shard(3).ingest
    assert four.shard(3).delivery_job("j") == f"hr:{{{shard_tag('delivery', 3)}}}:job:j"
    assert four.shard(3).event_index("all") == f"hr:{{{shard_tag('idx', 3)}}}:ev:all"
    assert four.shard(3).seen("p", "slack", "d1").startswith(f"hr:{{{tag}}}:dedup:")
    assert four.shard(3).seen_before("slack", "d1") is None  # versions before shards wrote only shard 0's
    # The stats prefix the counting scripts add the minute to shares its shard's tag.
    assert four.shard(3).stats("") == f"hr:{{{tag}}}:stats:"


@pytest.mark.parametrize("n", [2, 3, 4, 8, 16, 48])
@pytest.mark.parametrize("family", ["ingest", "idx", "delivery"])
def test_the_shards_slots_spread_evenly_over_any_masters_ranges(n: int, family: str) -> None:
    """A cluster's masters serve contiguous, equal ranges of slots: each range holds its share of the shards, within
    two, wherever the ranges start (tags hashed at random put 9, 3 and 4 of 16 shards on three masters)."""
    slots = [key_slot(shard_tag(family, i).encode()) for i in range(n)]
    assert len(set(slots)) == n
    for masters in (2, 3, 5):
        for start in range(0, SLOTS, 97):
            held = Counter(((slot - start) % SLOTS) * masters // SLOTS for slot in slots)
            assert all(abs(held[m] - n / masters) <= 2 for m in range(masters)), (masters, start, held)


def test_a_tenant_has_one_shard_and_tenants_spread() -> None:
    keys = Keys(shards=16)
    counts = [0] * 16
    for n in range(1600):
        shard = keys.shard_of("slack-app", f"T{n}")
        assert shard == keys.shard_of("slack-app", f"T{n}") == Keys(shards=16).shard_of("slack-app", f"T{n}")
        counts[shard] += 1
    assert min(counts) > 60 and max(counts) < 140, counts
    # The parts are encoded as in keys: a ':' cannot move a character from one part to the other.
    assert {keys.shard_of("a:b", "c"), keys.shard_of("a", "b:c")} == {
        keys.shard_of("a:b", "c"),
        keys.shard_of("a", "b:c"),
    }
    assert keys.shard_of("a", "") == keys.shard_of("a")


@pytest.mark.parametrize(("before", "after"), [(1, 4), (4, 2), (4, 16)])
def test_while_draining_a_tenant_knows_its_shard_under_the_old_n(before: int, after: int) -> None:
    old, new, draining = Keys(shards=before), Keys(shards=after), Keys(shards=after, draining=before)
    moved = 0
    for n in range(200):
        tenant = ("slack-app", f"T{n}")
        view = draining.before_change(*tenant)
        assert new.before_change(*tenant) is None  # nothing drained: nothing to look at
        if old.shard_of(*tenant) == new.shard_of(*tenant):
            assert view is None  # the same shard: its own marker is checked in the append's script
        else:
            assert view is not None and view.index == old.shard_of(*tenant)
            assert view.seen("p", "slack-app", "d-1") == old.shard(view.index).seen("p", "slack-app", "d-1")
            moved += 1
    assert moved > 50


def test_event_ids_carry_their_shard_and_order_by_time_sequence_then_shard() -> None:
    assert event_id("1700000000000-4", 0) == "1700000000000-4"
    assert event_id("1700000000000-4", 7) == "1700000000000-4-7"
    parsed = StreamId.parse("1700000000000-4-7", event=True)
    assert (parsed.ms, parsed.seq, parsed.shard, parsed.entry) == (1700000000000, 4, 7, "1700000000000-4")
    assert str(parsed) == "1700000000000-4-7"
    ids = ["2-0-3", "1-5", "2-0", "1-5-12", "2-1-1"]
    assert sorted(ids, key=lambda i: StreamId.parse(i, event=True)) == ["1-5", "1-5-12", "2-0", "2-0-3", "2-1-1"]
    for bad in ("1-2-0", "1-2-01", "1-2-3-4", "1-2-", "1-2/3", "1--3"):
        assert not StreamId.is_valid(bad, event=True), bad
        with pytest.raises(InvalidStreamId):
            StreamId.parse(bad, event=True)
    assert not StreamId.is_valid("1-2-3")  # a stream's own entry ids never carry a shard
    assert Keys(shards=8).of_id("5-1-6:wf:cred").index == 6
    assert Keys(shards=8).of_id("5-1").index == Keys(shards=8).of_id("not an id").index == 0


async def test_the_store_speaks_event_ids_and_never_reads_another_shards_entry(redis: Redis) -> None:
    keys = Keys(shards=4)
    store = stores(redis, keys)
    shard = keys.shard(2)
    assert isinstance(shard.ingest, ShardStream)
    fields = IngestEvent(source="webhook", project="p1", integration="slack", provider_id="T1").to_fields()
    stored = await store.add(Append(shard.ingest, fields))
    assert stored.id.endswith("-2") and StreamId.parse(stored.id, event=True).shard == 2
    assert (await store.get_event(keys, stored.id)) is not None
    [again] = await store.get_events(keys, [stored.id])
    assert again.id == stored.id
    entry = StreamId.parse(stored.id, event=True).entry
    assert await store.get(shard.ingest, entry) is None  # the bare entry id names an event of shard 0
    assert await store.get(keys.shard(0).ingest, stored.id) is None
    assert await store.get(keys.shard(1).ingest, stored.id) is None
    assert [e.id for e in await store.scan(shard.ingest)] == [stored.id]
    assert [e.id for e in await store.latest(shard.ingest, 5)] == [stored.id]
    # Read in the group, acknowledged by its event id.
    await store.ensure_group(shard.ingest)
    [read] = await store.read_new(shard.ingest, count=10, block_ms=0)
    assert read.id == stored.id
    assert await store.pending(shard.ingest, ROUTING_GROUP) == 1
    await store.ack(shard.ingest, [read.id])
    assert await store.pending(shard.ingest, ROUTING_GROUP) == 0


# -- the same events in one shard and in four


async def test_four_shards_answer_every_query_as_one_shard_does(seed: Seed, redis: Redis, registry: Registry) -> None:
    await seed_world(seed)
    one, four = Keys("one"), Keys("four", shards=4)
    start = int(time.time() * 1000) - 10 * 86_400_000
    twins = await preload_twice(redis, one, four, 600, start)
    assert len({StreamId.parse(i, event=True).shard for i in twins}) == 4  # every shard holds some
    assert await route_every_shard(redis, registry, one) == 600
    assert await route_every_shard(redis, registry, four) == 600
    await deliver_every_shard(redis, registry, one)
    await deliver_every_shard(redis, registry, four)
    mid = start + 3 * 86_400_000
    filters = [
        EventFilter(),
        EventFilter(project="p2"),
        EventFilter(integration="slack-b"),
        EventFilter(credential="cred-u1"),
        EventFilter(user="u3"),
        EventFilter(integration="slack-b", provider_id="T1"),
        *(EventFilter(status=s) for s in STATUSES[1:]),
        EventFilter(after_ms=mid, before_ms=mid + 2 * 86_400_000),
        EventFilter(integration="slack-b", status="failed"),
        EventFilter(project="p1", integration="slack-a", after_ms=mid),
    ]
    index_one, index_four = EventIndex(redis, one), EventIndex(redis, four)
    some = 0
    for f in filters:
        for newest_first in (True, False):
            for limit in (7, 1000):
                a = await pages(lambda **kw: index_one.query(f, **kw), limit, newest_first)  # noqa: B023
                b = await pages(lambda **kw: index_four.query(f, **kw), limit, newest_first)  # noqa: B023
                assert [[unsharded(i) for i in p.ids] for p in b] == [p.ids for p in a], f
                assert [p.total for p in b] == [p.total for p in a], f
                some += a[0].total
                # The four-shard ids are the events' own: each names a stored event of its shard.
                assert all(twins[i] == unsharded(i) for p in b for i in p.ids)
    assert some > 0
    for jf in (JobFilter(), JobFilter(workflow="wf-b"), JobFilter(status="FAILED"), JobFilter(user="u4")):
        a = await pages(lambda **kw: index_one.jobs(jf, **kw), 9, True)  # noqa: B023
        b = await pages(lambda **kw: index_four.jobs(jf, **kw), 9, True)  # noqa: B023
        assert [[unsharded(i) for i in p.ids] for p in b] == [p.ids for p in a], jf
        assert [p.total for p in b] == [p.total for p in a], jf
    # Statuses and traffic counts read across shards alike.
    sample = [i for i in twins][:50]
    assert await index_four.statuses(sample) == await index_one.statuses([twins[i] for i in sample])
    counted = await stats.Stats(stores(redis, four), four).buckets(
        start - start % 60_000, start + 20 * 86_400_000, 86_400
    )
    alone = await stats.Stats(stores(redis, one), one).buckets(start - start % 60_000, start + 20 * 86_400_000, 86_400)
    assert [b.routed for b in counted] == [b.routed for b in alone] and sum(b.routed for b in alone) > 0


async def test_merged_pages_with_ids_tied_across_shards_hold_every_event_once(redis: Redis, registry: Registry) -> None:
    """Events of several shards in the same millisecond and sequence: pages still split them without a gap or a
    repeat, in one order whichever way they are read."""
    keys = Keys("tie", shards=4)
    async with redis.pipeline(transaction=False) as pipe:
        for ms in range(1_000, 1_040):
            for shard in keys.every_shard:
                pipe.xadd(shard.ingest, {"project": "p", "integration": "i", "source": "webhook"}, id=f"{ms}-0")
        await pipe.execute()
    assert await route_every_shard(redis, registry, keys) == 160  # an empty registry: every event unmatched
    index = EventIndex(redis, keys)
    everything = (await index.query(EventFilter(), limit=1000, newest_first=False)).ids
    assert len(everything) == len(set(everything)) == 160
    assert everything == sorted(everything, key=lambda i: (score(i), i))
    for limit in (1, 3, 7):
        for newest_first in (False, True):
            walk = await pages(lambda **kw: index.query(EventFilter(), **kw), limit, newest_first)
            walked = [i for p in walk for i in p.ids]
            assert walked == (everything if not newest_first else everything[::-1])


# -- the service with four shards: ingest → routing → delivery → history → replay → retention


async def seed_teams(seed: Seed, teams: int) -> None:
    """One Slack app, one user and credential per team (provider ID), one stream-target workflow for all."""
    await seed(
        integration=[{"id": "slack-app", "type": "slack", "secrets": ["slack-signing-secret"]}],
        user=[{"id": f"u{n}"} for n in range(teams)],
        credential=[
            {"id": f"cred-{n}", "user": f"u{n}", "integration": "slack-app", "provider_id": f"T{n}"}
            for n in range(teams)
        ],
        workflow=[{"id": "wf-1", "name": "On message", "integration": "slack-app", "trigger": "*"}],
        activate=[("wf-1", f"u{n}") for n in range(teams)],
    )


async def test_the_service_with_four_shards_stores_routes_lists_replays_and_trims(
    redis_url: str, seed: Seed, redis: Redis, registry: Registry
) -> None:
    settings = make_settings(redis_url, shards=4)
    keys = Keys.of(settings)
    await seed_teams(seed, 12)
    async with running(settings) as http:
        posted = []
        for n in range(24):
            answer = await post_slack(http, slack_event(team=f"T{n % 12}", event_id=f"Ev{n}"))
            assert answer.status_code == 200
            posted += answer.json()["ids"]
        # A provider's retry is a duplicate in its tenant's shard: the first delivery's id comes back.
        again = await post_slack(http, slack_event(team="T5", event_id="Ev5"))
        assert again.json() == {"ids": [posted[5]], "duplicates": 1}
        shards = {StreamId.parse(i, event=True).shard for i in posted}
        assert len(shards) > 1
        for n, event in enumerate(posted):  # each in its tenant's shard, found by its id alone
            assert keys.of_id(event).index == keys.shard_of("slack-app", f"T{n % 12}")
            assert len(await xrange_all(redis, keys.of_id(event).ingest, after="")) > 0
        assert await route_every_shard(redis, registry, keys) == 24
        # Every trigger job (one per event: one user per team) names its event, once.
        jobs = await xrange_all(redis, keys.triggers("wf-1"))
        assert sorted(f[b"event_id"].decode() for _, f in jobs) == sorted(posted)
        listed = await http.get("/api/events", params={"limit": "5"}, headers=AUTH)
        assert listed.status_code == 200 and listed.json()["total"] == 24
        ids: list[str] = []
        url: str | None = "/api/events?limit=5"
        while url:
            page = (await http.get(url, headers=AUTH)).json()
            ids += [e["id"] for e in page["data"]]
            url = page.get("next")
        assert ids == sorted(posted, key=lambda i: (score(i), i), reverse=True)
        one = await http.get(f"/api/events/{posted[7]}", headers=AUTH)
        assert one.status_code == 200 and one.json()["id"] == posted[7] and one.json()["status"] == "routed"
        by_team = await http.get("/api/events", params={"integration": "slack-app", "provider_id": "T3"}, headers=AUTH)
        assert sorted(e["id"] for e in by_team.json()["data"]) == sorted(posted[3::12])
        # Replay one event of a shard past 0: its copy goes to the same tenant's shard and is routed there.
        sharded = next(i for i in posted if StreamId.parse(i, event=True).shard)
        queued = await http.post(f"/api/events/{sharded}/replay", json={"mode": "reroute"}, headers=AUTH)
        assert queued.status_code in (201, 202), queued.text
        metrics = (await http.get("/metrics")).text
        for shard in range(4):
            assert f'hookrouter_stream_backlog{{shard="{shard}",stream="ingest"}}' in metrics
    replayer = Replayer(
        stores(redis, keys), keys, ReplayJobs(redis, keys), SnapshotCache(registry, refresh_s=0.05), FAST
    )
    assert await ReplayRunner(replayer, ReplayJobs(redis, keys), owner="w1").run_once()
    assert await route_every_shard(redis, registry, keys) == 1
    copies = [f for _, f in await xrange_all(redis, keys.of_id(sharded).ingest) if f.get(b"replay_of")]
    assert [c[b"replay_of"].decode() for c in copies] == [sharded]
    assert ingest_shards(keys) == [(str(n), keys.shard(n).ingest) for n in range(4)]
    # Retention: everything is older than a day, a year from now; every shard's stream, outcomes and indexes go.
    cache = SnapshotCache(registry, refresh_s=0.05)
    await retention(stores(redis, keys), keys, cache, time.time() + 365 * 86_400, 86_400)
    for view in keys.every_shard:
        assert await redis.xlen(view.ingest) == 0
        assert await redis.hlen(view.outcomes) == 0
        assert await redis.zcard(view.event_index("all")) == 0
    assert (await EventIndex(redis, keys).query(EventFilter())).total == 0


# -- changing N


async def store_events(redis: Redis, keys: Keys, teams: range) -> list[str]:
    store = stores(redis, keys)
    ids = []
    for n in teams:
        event = IngestEvent(
            source="webhook",
            project="p1",
            integration="slack-app",
            integration_type="slack",
            provider_id=f"T{n % 12}",
            event_type="message",
            received_at=str(int(time.time() * 1000)),
            headers="{}",
            body=json.dumps({"n": n}).encode(),
        )
        ids.append(await store.append(keys.of_event(*event.tenant).ingest, event.to_fields()))
    return ids


@pytest.mark.parametrize(("before", "after"), [(1, 4), (4, 2)])
async def test_changing_n_drains_the_old_shards_routing_every_event_once(
    before: int, after: int, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_teams(seed, 12)
    old = Keys("n", shards=before)
    stored = await store_events(redis, old, range(30))
    assert await route_every_shard(redis, registry, old) == 30  # routed: part of the history already
    pending = await store_events(redis, old, range(30, 60))  # stored, not routed when N changes
    draining = Keys("n", shards=after, draining=before)
    stored += pending + await store_events(redis, draining, range(60, 90))  # ingress runs on, with the new N
    assert await route_every_shard(redis, registry, draining) == 60
    # Every event routed exactly once: one job each, whichever shard it was stored in.
    jobs = [f[b"event_id"].decode() for _, f in await xrange_all(redis, draining.triggers("wf-1"))]
    assert sorted(jobs) == sorted(stored)
    for shard in draining.every_shard:
        assert await stores(redis, draining).backlog(shard.ingest, ROUTING_GROUP) == 0
    # The history lists them all, in order, while the old shards are drained...
    listed = await EventIndex(redis, draining).query(EventFilter(), limit=1000, newest_first=False)
    assert listed.ids == sorted(stored, key=lambda i: (score(i), i)) and listed.total == 90
    # ... and once the draining setting goes, when growing: the old shards are all below the new N.
    if after > before:
        done = Keys("n", shards=after)
        assert (await EventIndex(redis, done).query(EventFilter(), limit=1000)).total == 90


async def test_the_cli_lists_and_shows_events_of_every_shard(
    redis_url: str, seed: Seed, redis: Redis, registry: Registry, tmp_path: Path
) -> None:
    settings = make_settings(redis_url, shards=4)
    keys = Keys.of(settings)
    await seed_teams(seed, 12)
    async with running(settings) as http:
        posted = []
        for n in range(12):
            posted += (await post_slack(http, slack_event(team=f"T{n}", event_id=f"Ev{n}"))).json()["ids"]
    assert await route_every_shard(redis, registry, keys) == 12
    shell = {**cli_env(REDIS_URL=redis_url, HOOKROUTER_MASTER_KEY=MASTER_KEY, COLUMNS="200"), "HOOKROUTER_SHARDS": "4"}
    listed = hookrouter("events", "list", "--limit", "100", "--json", env=shell, cwd=tmp_path)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert sorted(e["id"] for e in json.loads(listed.stdout)["data"]) == sorted(posted)
    sharded = next(i for i in posted if StreamId.parse(i, event=True).shard)
    shown = hookrouter("events", "show", sharded, env=shell, cwd=tmp_path)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert json.loads(shown.stdout)["id"] == sharded and json.loads(shown.stdout)["status"] == "routed"


async def test_the_workers_of_a_process_route_and_deliver_every_shard(
    redis_url: str, seed: Seed, redis: Redis, registry: Registry
) -> None:
    """`serve` with its workers and four shards: one routing and one delivery task per shard take every event to
    an HTTP target, a failed attempt retried from its shard's schedule, each job delivered once."""
    with http_sink(Reply(503), Reply(503), default=Reply(200)) as sink:
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
                    "target": {"type": "http", "url": sink.url(), "secrets": [WHSEC], "retry_schedule": "10ms"},
                }
            ],
            activate=[("wf-http", f"u{n}") for n in range(8)],
        )
        settings = make_settings(redis_url, shards=4, run_workers=True, route_block_ms=50, consumer_name="shards")
        keys = Keys.of(settings)
        async with running(settings) as http:
            posted = []
            for n in range(16):
                posted += (await post_slack(http, slack_event(team=f"T{n % 8}", event_id=f"Ev{n}"))).json()["ids"]
            received = await sink.received_async(18, timeout_s=30)  # 16 jobs, two of them answered 503 first
            delivered = Counter(json.loads(r.body)["event_id"] for r in received)

            async def settled() -> bool:
                statuses = await EventIndex(redis, keys).statuses(posted)
                return statuses == ["delivered"] * len(posted)

            await eventually(settled, timeout_s=30, what="every event's job delivered")
            tasks = (await http.get("/api/events", params={"status": "delivered"}, headers=AUTH)).json()
        assert tasks["total"] == 16
    assert sorted(delivered) == sorted(f"Ev{n}" for n in range(16))
    assert sorted(delivered.values()) == [1] * 14 + [2, 2]  # the two refused attempts, retried
    assert {StreamId.parse(i, event=True).shard for i in posted} == {
        keys.shard_of("slack-app", f"T{n}") for n in range(8)
    }


async def test_events_not_routed_yet_are_listed_received_from_every_shard(redis: Redis) -> None:
    one, four = Keys("r1"), Keys("r4", shards=4)
    twins = await preload_twice(redis, one, four, 40, 1_700_000_000_000)
    assert len({StreamId.parse(i, event=True).shard for i in twins}) > 1
    received = EventFilter(status="received")
    for newest_first in (True, False):
        a = await pages(lambda **kw: EventIndex(redis, one).query(received, **kw), 6, newest_first)
        b = await pages(lambda **kw: EventIndex(redis, four).query(received, **kw), 6, newest_first)
        assert [[unsharded(i) for i in p.ids] for p in b] == [p.ids for p in a]
        assert {p.total for p in b} == {40}
    assert set(await EventIndex(redis, four).statuses(list(twins))) == {"received"}
    assert {await EventIndex(redis, four).status_of(i) for i in list(twins)[:5]} == {"received"}
    assert await EventIndex(redis, four).status_of("1-0-3") == ""


async def test_the_acked_trim_never_takes_an_ingest_shard_even_of_an_earlier_n(redis: Redis) -> None:
    before, after = Keys("t", shards=8), Keys("t", shards=2)
    store = stores(redis, before)
    copies = [Append(before.shard(n).ingest, {"integration": "i", "source": "webhook"}) for n in range(8)]
    job = Append(before.shard(6).delivery_jobs, {"job_id": "1-0-6:wf:c"})
    await store.write([*copies, job], {}, "", stream_registry=before.stream_registry)
    kept = await streams_of(store, after)
    assert before.shard(6).delivery_jobs in kept  # work of an earlier N is still trimmed once acked
    assert not [s for s in kept if "{ingest" in s]
    assert all(after.is_ingest(before.shard(n).ingest) for n in range(8))
    assert not after.is_ingest(before.shard(6).delivery_jobs) and not after.is_ingest(before.ingest_dead)
