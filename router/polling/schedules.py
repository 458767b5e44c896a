"""The Scheduler trigger's pass: each due tick of each (workflow, time zone) is stored once as an event.

Pairs are what the registry wants: every deployed Scheduler workflow, once per time zone of its activated users
(once in all for interval schedules, whose ticks are the same everywhere). A pair's schedule is part of its name,
so changing a schedule starts a new pair. ``{sched}:due`` holds each pair's next tick; this module owns it.

Exactly once, across any number of workers: a tick is stored under the delivery id ``schedule:<pair>:<tick>``,
deduplicated by the event store (a second worker storing the same tick stores nothing), and only then is the pair
moved to its next tick, by a compare-and-set on the tick it fired. A worker that dies between the two leaves the
tick due: the next pass stores it again (a duplicate, not stored) and moves on. A tick missed while every worker
was down is fired once, late, when one comes back; the ticks after it are the ones after that moment.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis

from router.routing.scheduled import SCHEDULE_EVENT
from router.storage.entries import IngestEvent
from router.storage.keys import Keys
from router.storage.store import Append, EventStore, Once
from subscriptions.models import Workflow
from subscriptions.schedules import Schedule, iso, next_tick, user_timezone
from subscriptions.snapshot import Snapshot, SnapshotCache

logger = logging.getLogger(__name__)

# Move a pair from the tick it fired to the next one, only if no one moved it meanwhile.
_ADVANCE = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
  return 1
end
return 0
"""

DEDUP_TTL_S = 7 * 86_400  # longer than any outage we fire late after


@dataclass(frozen=True, slots=True)
class Ticking:
    workflow: Workflow
    schedule: Schedule
    timezone: str  # "" for interval schedules

    @property
    def member(self) -> str:
        digest = hashlib.sha256(self.schedule.model_dump_json().encode()).hexdigest()[:12]
        return f"{self.workflow.id}|{self.timezone}|{digest}"


def desired(snapshot: Snapshot) -> dict[str, Ticking]:
    out: dict[str, Ticking] = {}
    for wf in snapshot.workflows.values():
        if wf.trigger_type != "scheduler" or wf.schedule is None or not wf.deployed:
            continue
        zones: set[str] = set()
        for user in snapshot.users.values():
            if user.project == wf.project and not user.disabled and snapshot.is_activated(wf.id, user.id):
                zones.add(user_timezone(user.metadata, wf.schedule) if wf.schedule.wall_clock else "")
        for tz in zones:
            ticking = Ticking(wf, wf.schedule, tz)
            out[ticking.member] = ticking
    return out


class Scheduler:
    def __init__(
        self,
        cache: SnapshotCache,
        store: EventStore,
        keys: Keys,
        redis: Redis,
        *,
        clock: Callable[[], float] = time.time,
        per_pass: int = 500,
    ) -> None:
        self._cache = cache
        self._store = store
        self._keys = keys
        self._redis = redis
        self._advance = redis.register_script(_ADVANCE)
        self._clock = clock
        self._per_pass = per_pass
        self._reconciled: Snapshot | None = None
        self._wanted: tuple[Snapshot | None, dict[str, Ticking]] = (None, {})
        self.interval_s = 1.0

    async def run_once(self) -> int:
        """One pass; returns how many ticks it stored."""
        snapshot = await self._cache.refresh()
        if self._wanted[0] is not snapshot:  # snapshots are immutable: work out the pairs once per version
            self._wanted = (snapshot, desired(snapshot))
        wanted = self._wanted[1]
        now = self._clock()
        if snapshot is not self._reconciled:
            await self._reconcile(wanted, now)
            self._reconciled = snapshot
        due = cast(
            "list[tuple[bytes, float]]",
            await self._redis.zrangebyscore(
                self._keys.schedule_due, "-inf", now, start=0, num=self._per_pass, withscores=True
            ),
        )
        fired = 0
        for raw, tick in due:
            member = raw.decode() if isinstance(raw, bytes) else str(raw)
            ticking = wanted.get(member)
            if ticking is not None:
                fired += await self._fire(ticking, float(tick), now)
        return fired

    async def _reconcile(self, wanted: dict[str, Ticking], now: float) -> None:
        key = self._keys.schedule_due
        have = {m.decode() if isinstance(m, bytes) else str(m) for m in await self._redis.zrange(key, 0, -1)}
        fresh = {}
        for member, ticking in wanted.items():
            if member not in have:
                fresh[member] = next_tick(ticking.schedule, ticking.timezone, now)
        if fresh:
            await self._redis.zadd(key, fresh, nx=True)
        if gone := sorted(have - set(wanted)):
            await self._redis.zrem(key, *gone)

    async def _fire(self, ticking: Ticking, tick: float, now: float) -> int:
        wf, schedule = ticking.workflow, ticking.schedule
        delivery_id = f"schedule:{ticking.member}:{int(tick)}"
        body = {
            "workflowId": wf.id,
            "scheduledAt": iso(tick),
            "timezone": ticking.timezone or None,
            "firedAt": iso(now),
        }
        event = IngestEvent(
            source="scheduler",
            project=wf.project,
            workflow=wf.id,
            event_type=SCHEDULE_EVENT,
            delivery_id=delivery_id,
            received_at=str(int(now * 1000)),
            headers="{}",
            body=json.dumps(body, separators=(",", ":")).encode(),
        )
        keys = self._keys.of_event(*event.tenant)
        once = Once(keys.seen(wf.project, wf.id, delivery_id), DEDUP_TTL_S, keys.duplicates, wf.id)
        stored = await self._store.add(Append(keys.ingest, event.to_fields(), once))
        # Late ticks fire once: the next one is the first after now, not the first after the missed one.
        following = next_tick(schedule, ticking.timezone, max(now, tick))
        await self._advance(keys=[keys.schedule_due], args=[ticking.member, repr(tick), repr(following)])
        if now - tick > 60:
            logger.warning("scheduled tick fired late", extra={"workflow": wf.id, "late_s": round(now - tick)})
        return 0 if stored.duplicate else 1
