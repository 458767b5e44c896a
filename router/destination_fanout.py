"""Notification stream → one delivery job per interested destination.

Reads the notification stream in its own consumer group; for each event, every enabled destination of the
event's project that takes its type (and was not disabled automatically) gets a job on the delivery work
stream; the entry is acked only once its jobs are written (at-least-once; job ids are deterministic).
"""

from __future__ import annotations

import asyncio
import json
import logging

from router.keys import Keys
from router.loop import run_until_stopped
from router.redis_client import decoded
from router.store import Append, EventStore, StoredEvent
from subscriptions.snapshot import Snapshot, SnapshotCache

logger = logging.getLogger(__name__)

DESTINATIONS_GROUP = "destinations"


class DestinationFanout:
    def __init__(
        self,
        store: EventStore,
        cache: SnapshotCache,
        keys: Keys,
        *,
        batch: int = 100,
        block_ms: int = 1000,
        claim_idle_ms: int = 60_000,
    ) -> None:
        self._store = store
        self._cache = cache
        self._keys = keys
        self._batch = batch
        self._block_ms = block_ms
        self._claim_idle_ms = claim_idle_ms
        self._stopping = asyncio.Event()
        self._group_ready = False

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        await run_until_stopped(self.run_once, self._stopping, "destination fan-out")

    async def run_once(self) -> int:
        stream = self._keys.notifications
        if not self._group_ready:
            await self._store.ensure_group(stream)
            self._group_ready = True
        events = await self._store.claim_stale(stream, min_idle_ms=self._claim_idle_ms, count=self._batch)
        if not events:
            events = await self._store.read_new(stream, count=self._batch, block_ms=self._block_ms)
        if not events:
            return 0
        snapshot = await self._cache.refresh()
        disabled = {decoded(k) for k in await self._store.redis.hkeys(self._keys.disabled_destinations)}
        writes = [job for event in events for job in self._jobs(event, snapshot, disabled)]
        await self._store.write(writes, {}, "")
        await self._store.ack(stream, [e.id for e in events])
        return len(events)

    def _jobs(self, event: StoredEvent, snapshot: Snapshot, disabled: set[str]) -> list[Append]:
        jobs = []
        for destination in snapshot.destinations_for(event.text("project"), event.text("type")):
            if destination.id in disabled:
                continue
            jobs.append(
                Append(
                    self._keys.delivery_jobs,
                    {
                        "job_id": f"{event.id}:dest:{destination.id}",
                        "target_kind": "destination",
                        "destination": destination.id,
                        "event_id": event.id,
                        "project": event.text("project"),
                        "notification": event.fields.get("event", b"{}"),
                    },
                )
            )
        return jobs


def event_of(entry: StoredEvent) -> dict[str, object]:
    """The failure event held by a notification stream entry."""
    data = json.loads(entry.fields.get("event", b"{}"))
    return data if isinstance(data, dict) else {}
