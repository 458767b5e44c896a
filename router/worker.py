"""The routing worker: ingest stream → trigger streams, in a consumer group.

Each batch: reclaim entries a silent worker left pending (XAUTOCLAIM past ``claim_idle_ms``), else
read new ones; dead-letter entries handed out more than ``max_deliveries`` times; route the rest
against the registry snapshot; write every trigger job and outcome; only then ack.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from router.history import index_dead_lettered, index_routed
from router.keys import Keys
from router.loop import run_until_stopped
from router.routing import route
from router.store import Append, EventStore, StoredEvent
from router.trimming import retention
from subscriptions.snapshot import SnapshotCache

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    batch: int = 100
    block_ms: int = 1000
    claim_idle_ms: int = 60_000
    max_deliveries: int = 5
    retention_days: int = 90
    retention_every_s: float = 3600.0
    retention_s: float | None = None  # overrides retention_days, in seconds (benches and tests: a short retention)


class RoutingWorker:
    def __init__(self, store: EventStore, cache: SnapshotCache, keys: Keys, config: WorkerConfig) -> None:
        self._store = store
        self._cache = cache
        self._keys = keys
        self._config = config
        self._stopping = asyncio.Event()
        self._group_ready = False
        self._next_trim = 0.0
        self.routed = 0

    def stop(self) -> None:
        """Finish the batch in hand, then return from run()."""
        self._stopping.set()

    async def run(self) -> None:
        await run_until_stopped(self._batch_and_retention, self._stopping, "routing")

    async def _batch_and_retention(self) -> None:
        if time.monotonic() >= self._next_trim:
            await self.trim(time.time())
            self._next_trim = time.monotonic() + self._config.retention_every_s
        await self.run_once()

    async def run_once(self) -> int:
        """One batch; returns how many entries it settled (routed or dead-lettered)."""
        stream = self._keys.ingest
        if not self._group_ready:
            await self._store.ensure_group(stream)
            self._group_ready = True
        events = await self._store.claim_stale(stream, min_idle_ms=self._config.claim_idle_ms, count=self._config.batch)
        if events:
            events = await self._drop_exhausted(events)
        else:
            events = await self._store.read_new(stream, count=self._config.batch, block_ms=self._config.block_ms)
        if not events:
            return 0
        await self._route(events)
        return len(events)

    async def trim(self, now: float) -> None:
        """Retention: drop events (their outcomes, indexes, trigger jobs, dead letters, ...) older than
        ``retention_days``; ``router/trimming.py`` says what, and who else trims what."""
        retention_s = self._config.retention_s or self._config.retention_days * 86_400
        await retention(self._store, self._keys, self._cache, now, retention_s)

    async def _drop_exhausted(self, events: list[StoredEvent]) -> list[StoredEvent]:
        counts = await self._store.times_delivered(self._keys.ingest, [e.id for e in events])
        keep = []
        for event in events:
            if counts.get(event.id, 0) > self._config.max_deliveries:
                logger.error(
                    "event dead-lettered after repeated routing failures",
                    extra={"event_id": event.id, "deliveries": counts[event.id]},
                )
                await self._store.dead_letter(self._keys.ingest, self._keys.ingest_dead, event, "max_deliveries")
                await index_dead_lettered(self._store.redis, self._keys, [event])
            else:
                keep.append(event)
        return keep

    async def _route(self, events: list[StoredEvent]) -> None:
        snapshot = await self._cache.refresh()
        writes: list[Append] = []
        outcomes: dict[str, str] = {}
        for event in events:
            event_writes, outcome = route(snapshot, event, self._keys)
            writes += event_writes
            outcomes[event.id] = outcome.to_json()
            logger.debug("routed", extra={"event_id": event.id, "outcome": outcome.status, "jobs": len(outcome.jobs)})
        # Jobs and outcomes first, the ack in a second round trip: a failed write must leave the entry pending.
        await self._store.write(writes, outcomes, self._keys.outcomes, stream_registry=self._keys.stream_registry)
        await index_routed(self._store.redis, self._keys, events, outcomes, writes)
        await self._store.ack(self._keys.ingest, [e.id for e in events])
        self.routed += len(events)
