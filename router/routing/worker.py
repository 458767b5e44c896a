"""The routing worker: ingest stream → trigger streams, in a consumer group.

One worker reads one ingest shard (``Keys.shard``): the process runs one per shard, each a supervised task,
every one in the shard's ``routing`` consumer group, so any number of processes share every shard with no
assignment of their own. Each batch: reclaim entries a silent worker left pending (XAUTOCLAIM past
``claim_idle_ms``), else read new ones; dead-letter entries handed out more than ``max_deliveries`` times;
route the rest against the registry snapshot; write every trigger job and outcome; only then ack. ``run_once`` is one
pass and ``trim`` one retention pass; the process's supervisor (``router.runtime.supervisor``) repeats both.

A pass routes up to ``PASS_BATCHES`` batches while there are full ones to read, and decides each batch while Redis
writes the one before (it reads a batch ahead, before sending the writes): routing is Python's work and writing is
Redis's, so on two CPUs they overlap instead of taking turns. Writes still go in read order (a batch's writes are
sent once the previous batch's are done), each batch is acked only after its own writes, and a pass ends with
nothing in flight.
"""

from __future__ import annotations

import asyncio
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
from router.storage.consumer import QUICK_RECOVER_IDLE_MS, Batch, GroupReader
from router.storage.keys import Keys
from router.storage.store import Append, EventStore, StoredEvent
from router.tasks import cancel
from subscriptions.snapshot import SnapshotCache

logger = logging.getLogger(__name__)
# Batches one pass may route back to back (while the stream has full batches to read): the supervisor's heartbeat and
# a stop request come between passes, so a pass stays short.
PASS_BATCHES = 8


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
        self._unwritten: list[str] = []  # ids a failed pass had read and not seen acked

    def reset(self) -> None:
        """After a failed pass: see router.storage.consumer (group recreated, own pending entries taken up again),
        the batch whose writes failed included."""
        self._reader.reset(also=self._unwritten)
        self._unwritten = []

    async def run_once(self) -> int:
        """One pass; returns how many entries it routed (entries dead-lettered instead are not counted)."""
        batch = await self._reader.next()
        plan = await self._decide_batch(batch)
        routed = 0
        writing: asyncio.Task[None] | None = None
        in_flight: list[str] = []
        try:
            for n in range(PASS_BATCHES):
                if plan is None:
                    break
                # Read the next batch before sending this one's writes: Redis runs one command at a time, so a read
                # sent after them would wait until they are done, and there would be nothing to decide meanwhile.
                # Never a blocking read here, with a batch decided and not written; never past the pass's last batch.
                ahead = len(batch.events) >= self._config.batch and n + 1 < PASS_BATCHES
                if ahead:
                    batch = await self._reader.next(block_ms=0)
                writing, in_flight = asyncio.create_task(self._write(plan)), plan.ids
                routed += len(plan.ids)
                await asyncio.sleep(0)  # let the task pack and send the writes before deciding, which never yields
                plan = await self._decide_batch(batch) if ahead else None
                await writing  # in read order: the next batch's jobs follow this one's in every stream
                writing = None
        except BaseException:
            # Whatever was read and not acked is taken up again (XCLAIM skips what was acked after all).
            self._unwritten = [*in_flight, *(plan.ids if plan is not None else [])]
            if writing is not None:
                await _settle(writing)
            raise
        return routed

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

    async def _decide_batch(self, batch: Batch) -> _Plan | None:
        events = await self._drop_exhausted(batch.events) if batch.redelivered else batch.events
        return await self._decide(events) if events else None

    async def _decide(self, events: list[StoredEvent]) -> _Plan:
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
        return _Plan([e.id for e in events], writes, outcomes, routed, indexed, statuses)

    async def _write(self, plan: _Plan) -> None:
        http_jobs = {str(w.fields.get("job_id", "")) for w in plan.writes if w.stream == self._keys.delivery_jobs}

        async def index(pipe: Any) -> None:
            await queue_indexed(self._store, pipe, self._keys, plan.indexed, http_jobs)

        # Jobs, outcomes and history in one round trip, the ack in a second: a failed write must leave the entries
        # pending. The index follows the jobs in the pipeline and keeps job statuses already known (HSETNX), so a
        # delivery settled between the two, or an event routed again after a crash, is filed as it stands.
        await self._outcomes.record(
            plan.writes, plan.outcomes, stream_registry=self._keys.stream_registry, routed=plan.routed, also=index
        )
        await self._store.ack(self._keys.ingest, plan.ids)
        self.routed += len(plan.ids)
        _observe(plan.statuses, [item.event_id for item in plan.indexed if item.jobs])


@dataclass(frozen=True, slots=True)
class _Plan:
    """One batch decided: what its writes are, before they are sent."""

    ids: list[str]
    writes: list[Append]
    outcomes: dict[str, str]
    routed: dict[str, str]
    indexed: list[Indexed]
    statuses: Counter[str]


async def _settle(writing: asyncio.Task[None]) -> None:
    """A pass that fails or is cancelled lets the batch it is writing finish (acked, or left pending for reset)."""
    try:
        await asyncio.shield(writing)
    except asyncio.CancelledError:
        await cancel(writing)
        raise
    except Exception:  # the pass's own exception reports it; the batch stays pending for reset()
        return


def _observe(statuses: Counter[str], matched: list[str]) -> None:
    for status, n in statuses.items():
        metrics.ROUTED.labels(status).inc(n)
    # An entry id's first part is the millisecond Redis appended the event: the latency needs no extra field.
    now_ms = time.time() * 1000
    for event_id in matched:
        metrics.INGEST_TO_TRIGGER_SECONDS.observe(max(0.0, now_ms - int(event_id.split("-", 1)[0])) / 1000)
