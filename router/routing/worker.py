"""The routing worker: ingest stream → trigger streams, in a consumer group.

One worker reads one ingest shard (``Keys.shard``): the process runs one per shard, each a supervised task,
every one in the shard's ``routing`` consumer group, so any number of processes share every shard with no
assignment of their own. Each batch: reclaim entries a silent worker left pending (XAUTOCLAIM past
``claim_idle_ms``), else read new ones; dead-letter entries handed out more than ``max_deliveries`` times;
route the rest against the registry snapshot; write every trigger job and outcome; only then ack. ``run_once`` is one
batch and ``trim`` one retention pass; the process's supervisor (``router.runtime.supervisor``) repeats both.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from router import metrics
from router.history.indexes import Indexed, index_dead_lettered, queue_indexed
from router.routing.outcomes import RoutingOutcomes
from router.routing.table import route_read
from router.runtime.trimming import retention
from router.storage.consumer import QUICK_RECOVER_IDLE_MS, GroupReader
from router.storage.keys import Keys
from router.storage.store import Append, EventStore, StoredEvent
from subscriptions.snapshot import SnapshotCache

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    batch: int = 100
    block_ms: int = 1000
    claim_idle_ms: int = 60_000
    max_deliveries: int = 5
    retention_days: int = 90
    retention_s: float | None = None  # overrides retention_days, in seconds (benches and tests: a short retention)


class RoutingWorker:
    def __init__(self, store: EventStore, cache: SnapshotCache, keys: Keys, config: WorkerConfig) -> None:
        self._store = store
        self._cache = cache
        self._keys = keys
        self._outcomes = RoutingOutcomes(store, keys)
        self._config = config
        self._reader = GroupReader(
            store,
            keys.ingest,
            count=config.batch,
            block_ms=config.block_ms,
            claim_idle_ms=config.claim_idle_ms,
            recover_idle_ms=QUICK_RECOVER_IDLE_MS,
            # Stale entries are ``claim_idle_ms`` old before they can be taken: looking for them a quarter of that
            # apart (a second at most) delays a dead worker's events by little and saves a round trip per batch.
            claim_every_ms=min(1000, config.claim_idle_ms // 4),
        )
        self.routed = 0

    def reset(self) -> None:
        """After a failed batch: see router.storage.consumer (group recreated, own pending entries taken up again)."""
        self._reader.reset()

    async def run_once(self) -> int:
        """One batch; returns how many entries it routed (entries dead-lettered instead are not counted)."""
        batch = await self._reader.next()
        events = await self._drop_exhausted(batch.events) if batch.redelivered else batch.events
        if events:
            await self._route(events)
        return len(events)

    async def trim(self, now: float) -> None:
        """Retention: drop events (their outcomes, indexes, trigger jobs, dead letters, ...) older than
        ``retention_days``; ``router/runtime/trimming.py`` says what, and who else trims what."""
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
                await index_dead_lettered(self._store, self._keys, [event])
            else:
                keep.append(event)
        return keep

    async def _route(self, events: list[StoredEvent]) -> None:
        snapshot = await self._cache.refresh()
        writes: list[Append] = []
        outcomes: dict[str, str] = {}
        routed: dict[str, str] = {}
        indexed: list[Indexed] = []
        statuses: Counter[str] = Counter()
        debug = logger.isEnabledFor(logging.DEBUG)
        for stored in events:
            event, event_writes, outcome = route_read(snapshot, stored, self._keys)
            writes += event_writes
            outcomes[stored.id] = outcome.to_json()
            if outcome.jobs:
                routed[stored.id] = event.project
            indexed.append(Indexed(stored.id, event, outcome.jobs, "routed" if outcome.jobs else "unmatched"))
            statuses[outcome.status] += 1
            if debug:
                extra = {"event_id": stored.id, "outcome": outcome.status, "jobs": len(outcome.jobs)}
                logger.debug("routed", extra=extra)
        http_jobs = {str(w.fields.get("job_id", "")) for w in writes if w.stream == self._keys.delivery_jobs}

        async def index(pipe: Any) -> None:
            await queue_indexed(self._store, pipe, self._keys, indexed, http_jobs)

        # Jobs, outcomes and history in one round trip, the ack in a second: a failed write must leave the entries
        # pending. The index follows the jobs in the pipeline and keeps job statuses already known (HSETNX), so a
        # delivery settled between the two, or an event routed again after a crash, is filed as it stands.
        await self._outcomes.record(
            writes, outcomes, stream_registry=self._keys.stream_registry, routed=routed, also=index
        )
        await self._store.ack(self._keys.ingest, [e.id for e in events])
        self.routed += len(events)
        _observe(statuses, [item.event_id for item in indexed if item.jobs])


def _observe(statuses: Counter[str], matched: list[str]) -> None:
    for status, n in statuses.items():
        metrics.ROUTED.labels(status).inc(n)
    # An entry id's first part is the millisecond Redis appended the event: the latency needs no extra field.
    now_ms = time.time() * 1000
    for event_id in matched:
        metrics.INGEST_TO_TRIGGER_SECONDS.observe(max(0.0, now_ms - int(event_id.split("-", 1)[0])) / 1000)
