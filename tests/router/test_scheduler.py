"""The Scheduler trigger with a real Redis and a clock the test moves: each tick stored once across racing workers,
in each user's time zone across a DST change, routed to that zone's users, and fired once, late, after an outage."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from router.polling.schedules import Scheduler
from router.routing.worker import RoutingWorker, WorkerConfig
from router.storage.keys import ROUTING_GROUP, Keys
from router.storage.store import EventStore
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache
from tests.clock import Clock
from tests.router.conftest import Seed, xrange_all

pytestmark = pytest.mark.anyio
KEYS = Keys()


def at(text: str) -> Clock:
    """A clock set to ``text``, a UTC wall-clock time."""
    return Clock(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def make_scheduler(redis: Redis, registry: Registry, clock: Clock, name: str) -> Scheduler:
    store = EventStore(redis, maxlen=100_000, group=ROUTING_GROUP, consumer=name)
    return Scheduler(SnapshotCache(registry), store, KEYS, redis, clock=clock)


async def seed_daily(seed: Seed, schedule: dict[str, object] | None = None) -> None:
    await seed(
        integration=[{"id": "app", "type": "custom.reports"}],
        user=[{"id": "u-la"}, {"id": "u-paris", "metadata": {"timezone": "Europe/Paris"}}, {"id": "u-off"}],
        credential=[{"id": f"c-{u}", "user": u, "integration": "app"} for u in ("u-la", "u-paris", "u-off")],
        workflow=[
            {
                "id": "wf-daily",
                "integration": "app",
                "trigger_type": "scheduler",
                "schedule": schedule or {"every": "daily", "at": "09:00"},
            }
        ],
        activate=[("wf-daily", "u-la"), ("wf-daily", "u-paris")],
    )


async def ticks(redis: Redis) -> list[tuple[str, str | None]]:
    out = []
    for _, fields in await xrange_all(redis, KEYS.ingest):
        body = json.loads(fields[b"body"])
        out.append((body["scheduledAt"], body["timezone"]))
    return out


async def test_each_tick_is_stored_once_by_racing_workers_across_a_dst_change(
    redis: Redis, registry: Registry, seed: Seed
) -> None:
    await seed_daily(seed)
    clock = at("2026-03-06T12:00:00")
    workers = [make_scheduler(redis, registry, clock, name) for name in ("w1", "w2", "w3")]
    end = datetime(2026, 3, 9, 12, tzinfo=UTC).timestamp()
    while clock.now < end:
        await asyncio.gather(*(w.run_once() for w in workers))
        clock.now += 600
    assert sorted(await ticks(redis)) == [
        ("2026-03-06T17:00:00Z", "America/Los_Angeles"),  # 09:00 PST
        ("2026-03-07T08:00:00Z", "Europe/Paris"),
        ("2026-03-07T17:00:00Z", "America/Los_Angeles"),
        ("2026-03-08T08:00:00Z", "Europe/Paris"),
        ("2026-03-08T16:00:00Z", "America/Los_Angeles"),  # 09:00 PDT: Los Angeles changed on the 8th
        ("2026-03-09T08:00:00Z", "Europe/Paris"),
    ]


async def test_a_tick_goes_to_the_activated_users_of_its_time_zone(
    redis: Redis, registry: Registry, seed: Seed
) -> None:
    await seed_daily(seed)
    clock = at("2026-03-06T12:00:00")
    scheduler = make_scheduler(redis, registry, clock, "w1")
    await scheduler.run_once()
    clock.now += 6 * 3600  # past 17:00 UTC: Los Angeles' 09:00
    assert await scheduler.run_once() == 1
    store = EventStore(redis, maxlen=100_000, group=ROUTING_GROUP, consumer="r1")
    await RoutingWorker(store, SnapshotCache(registry), KEYS, WorkerConfig(block_ms=0)).run_once()
    jobs = await xrange_all(redis, KEYS.triggers("wf-daily"))
    assert [fields[b"user"] for _, fields in jobs] == [b"u-la"]  # not Paris' user, not the one not activated
    assert [fields[b"credential"] for _, fields in jobs] == [b"c-u-la"]


async def test_ticks_missed_while_every_worker_was_down_fire_once_late(
    redis: Redis, registry: Registry, seed: Seed
) -> None:
    await seed_daily(seed, {"every": "minutes", "interval": 5})
    clock = at("2026-03-06T12:01:00")
    scheduler = make_scheduler(redis, registry, clock, "w1")
    await scheduler.run_once()
    clock.now += 3600  # twelve ticks missed
    assert await scheduler.run_once() == 1
    assert await scheduler.run_once() == 0
    assert await ticks(redis) == [("2026-03-06T12:05:00Z", None)]  # one interval schedule for every zone
    clock.now += 240  # 13:05: the next tick after the late one
    assert await scheduler.run_once() == 1
    assert [t for t, _ in await ticks(redis)][-1] == "2026-03-06T13:05:00Z"


async def test_a_changed_schedule_replaces_its_ticks(redis: Redis, registry: Registry, seed: Seed) -> None:
    await seed_daily(seed)
    clock = at("2026-03-06T12:00:00")
    scheduler = make_scheduler(redis, registry, clock, "w1")
    await scheduler.run_once()
    before = await redis.zrange(KEYS.schedule_due, 0, -1)
    await seed_daily(seed, {"every": "daily", "at": "10:00"})
    await scheduler.run_once()
    after = await redis.zrange(KEYS.schedule_due, 0, -1)
    assert len(before) == len(after) == 2 and not set(before) & set(after)
