"""Delivery to HTTP targets: the work stream → signed POSTs, with retries, dead letters and per-target limits.

Every worker (any number, in `serve` or `worker` processes) runs the same loop:
1. move retries that came due from the scheduled set back onto the work stream (as references to the job's
   hash: a job's body is stored once, see ``router/storage/store.py``), and learn when the next one comes due;
2. reclaim entries a dead worker left pending (XAUTOCLAIM past ``claim_idle_ms``, which is longer than
   any attempt may take, so a slow delivery in progress is never taken over), else read new ones, blocking
   no longer than until that next due time: a retry or a job held back by a target's rate limit goes back to
   work when it is due, not at the end of a poll period;
3. per job: target gone or disabled → dead letter; ordered pair not at its head → wait; not admitted by
   the target's limits (breaker, rate, concurrency) → reschedule without spending an attempt; else POST;
4. success → history; 410 → the target is disabled and the job dead-lettered; other 4xx → dead letter;
   retryable → rescheduled on the retry schedule (Retry-After honoured) or dead-lettered when it ran out;
   the batch's outcomes and acks are one MULTI (one script when every job finished), written once its every
   attempt has ended.

A worker busy with a batch moves due jobs when the batch is settled; idle workers (blocked on the stream) move
them at their due time, and ``block_ms`` bounds the wait even for a due time set by another worker meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from router.delivery.attempt import Attempt, dead_reason, post_signed
from router.delivery.disabled import DisabledTargets
from router.delivery.job import Job
from router.delivery.limits import Admission, Limiter, TargetLimits
from router.delivery.outcomes import Outcomes
from router.delivery.retry import DEFAULT_POLICY, RetryPolicy, Verdict
from router.history.indexes import index_settled_many
from router.notifications.delivery import DestinationSender
from router.notifications.events import Notifier, router_event
from router.storage.consumer import GroupReader
from router.storage.entries import MalformedEntry, TriggerJob
from router.storage.keys import Keys
from router.storage.redis_client import decoded
from router.storage.store import EventStore, Settle, StoredEvent
from router.storage.stream_id import InvalidStreamId, StreamId
from subscriptions.models import HttpTarget, Workflow
from subscriptions.snapshot import Snapshot, SnapshotCache

logger = logging.getLogger(__name__)

# How late Redis may end a blocked read: it checks blocked clients' timeouts on its cron tick, 1000 / hz ms
# (hz 10 by default). Measured on 6.2 and 7.0: a 5 ms or 50 ms block returns after 100 ms.
_SERVER_TICK_MS = 100
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    batch: int = 50
    block_ms: int = 1000
    # Above the longest attempt a target may configure (timeout_s ≤ 120) plus margin: an entry idle this long
    # belongs to a dead worker, never to one still waiting on a slow target.
    claim_idle_ms: int = 180_000
    in_flight: int = 50  # concurrent attempts per worker
    retry: RetryPolicy = DEFAULT_POLICY
    history_ttl_s: int = 90 * 86_400
    order_wait_s: float = 1.0  # how soon a job waiting behind an earlier one of its ordered pair looks again


def message_id(job_id: str) -> str:
    """The webhook-id a target sees: stable across retries (targets deduplicate on it), free of the '.' and
    ':' a job id may hold, which Standard Webhooks' signed string cannot take."""
    return "msg_" + hashlib.sha256(job_id.encode()).hexdigest()[:32]


def limits_of(target: HttpTarget) -> TargetLimits:
    return TargetLimits(
        max_concurrency=target.max_concurrency,
        rate_per_s=target.rate_per_s,
        burst=target.burst,
        breaker_failures=target.breaker_failures,
        breaker_open_s=target.breaker_open_s,
    )


# A due retry's entry on the work stream: only the id of the job whose hash holds its fields (see the store).
_JOB_REF = "job_ref"


def _ref(entry: StoredEvent) -> str:
    return entry.fields[_JOB_REF].decode("utf-8", "replace")


def _order_score(event_id: str) -> float:
    try:
        return StreamId.parse(event_id, partial=True, event=True).score
    except InvalidStreamId:
        return 0.0


class DeliveryWorker:
    def __init__(
        self,
        store: EventStore,
        cache: SnapshotCache,
        keys: Keys,
        limiter: Limiter,
        http: httpx.AsyncClient,
        config: DeliveryConfig,
        *,
        clock: Clock = time.time,
        rand: Callable[[], float] = random.random,
        destinations: DestinationSender | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self._store = store
        self._cache = cache
        self._keys = keys
        self._limiter = limiter
        self._http = http
        self._config = config
        self._clock = clock
        self._rand = rand
        self._out = Outcomes(keys, config.history_ttl_s, clock)
        self._disabled = DisabledTargets.of(store, keys)
        self._destinations = destinations
        self._notifier = notifier
        self._reader = GroupReader(
            store, keys.delivery_jobs, count=config.batch, block_ms=config.block_ms, claim_idle_ms=config.claim_idle_ms
        )
        self._held_back: Counter[str] = Counter()  # per batch: jobs of each target its rate limit held back
        self._disabled_now: set[str] = set()  # per batch: the targets found or made disabled
        # Each target's limits, built once per registry snapshot rather than once per job.
        self._limits: dict[str, TargetLimits] = {}
        self._limits_snapshot: Snapshot | None = None
        self.settled = 0

    def reset(self) -> None:
        """After a failed batch: see router.storage.consumer (group recreated, own pending jobs taken up again)."""
        self._reader.reset()

    async def run_once(self) -> int:
        """One batch; returns how many jobs it settled."""
        requeued = await self._store.requeue_due(
            self._keys.delivery_scheduled,
            self._keys.delivery_jobs,
            self._keys.delivery_job(""),
            self._clock(),
            self._config.batch,
        )
        block_ms = self._block_ms(requeued.next_due)
        events = (await self._reader.next(block_ms=block_ms)).events
        if not events:
            await self._until_due(requeued.next_due, block_ms)
            return 0
        jobs = await self._jobs(events)
        self._held_back.clear()
        if jobs:
            snapshot = await self._cache.refresh()
            if snapshot is not self._limits_snapshot:
                self._limits, self._limits_snapshot = {}, snapshot
            # Asked once a batch; a target this batch disables (410) joins the set as it happens.
            self._disabled_now = set(await self._disabled.among({j.entry.workflow for j in jobs if j.entry.workflow}))
            gate = asyncio.Semaphore(self._config.in_flight)
            # Every attempt of the batch ends before a failure is raised: a job still in flight must not be taken
            # up again by the recovery that follows (it would be delivered twice at once).
            results = await asyncio.gather(*(self._one(snapshot, job, gate) for job in jobs), return_exceptions=True)
            settled = [r for r in results if not isinstance(r, BaseException)]
            # The batch's outcomes and acks in one MULTI or script, its history index in one script per shard: two
            # round trips a batch, not two a job. A crash before them leaves the batch pending, to be attempted again.
            await self._store.settle_many(self._keys.delivery_jobs, [(job.entry_id, out) for job, out in settled])
            await index_settled_many(self._store, self._keys, settled)
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                raise failures[0]
        self.settled += len(events)
        return len(events)

    def _block_ms(self, due: float | None) -> int:
        """How long to wait for new entries: ``block_ms``, but no longer than until the next retry is ``due``.

        Redis ends a blocked read on its cron tick (every 100 ms at the default ``hz 10``), up to a tick late.
        So the read blocks for the bulk of the wait and the last tick's worth is timed here (``_until_due``): a
        retry or a job held back by a rate limit is moved back within a millisecond or two of its due time.
        """
        block_ms = self._config.block_ms
        until_due_ms = math.inf if due is None else (due - self._clock()) * 1000
        if block_ms <= 0 or until_due_ms >= block_ms:
            return block_ms
        return max(math.floor(until_due_ms - _SERVER_TICK_MS), 0)  # 0: look without blocking

    async def _until_due(self, due: float | None, block_ms: int) -> None:
        """After a read that found nothing: sleep the rest of the way to ``due`` when the read was cut short for it."""
        if due is not None and block_ms < self._config.block_ms and (left := due - self._clock()) > 0:
            await asyncio.sleep(left)

    async def _jobs(self, events: list[StoredEvent]) -> list[Job]:
        """The jobs of these entries: a reference (``job_ref``) is resolved to the job's hash. A reference whose
        hash is gone belongs to a job that ended meanwhile (through a duplicate entry): it is acked and dropped."""
        refs = [e for e in events if _JOB_REF in e.fields]
        stored = await self._store.job_hashes([self._keys.delivery_job(_ref(e)) for e in refs])
        by_entry = {e.id: fields for e, fields in zip(refs, stored, strict=True)}
        jobs: list[Job] = []
        gone: list[str] = []
        for event in events:
            held = by_entry.get(event.id)
            if held == {}:
                gone.append(event.id)
                continue
            entry = event if held is None else StoredEvent(event.stream, event.id, held)
            try:
                jobs.append(Job.read(entry, stored=held is not None))
            except MalformedEntry as exc:
                # No attempt could make it deliverable: dead-lettered at once, as it stands, for an operator.
                logger.error("malformed delivery job dead-lettered", extra={"entry": event.id, "field": exc.field})
                keys = self._keys
                await self._store.dead_letter(keys.delivery_jobs, keys.delivery_dead, entry, "malformed_entry")
        await self._store.ack(self._keys.delivery_jobs, gone)
        return jobs

    async def _one(self, snapshot: Snapshot, job: Job, gate: asyncio.Semaphore) -> tuple[Job, Settle]:
        async with gate:
            outcome = await self._deliver(snapshot, job)
        if outcome.dead_stream and job.entry.target_kind != "destination" and self._notifier is not None:
            # Before the settle: a crash in between repeats the event (at-least-once), never loses it.
            await self._notifier.emit(_exhausted(snapshot, job, outcome))
        return job, outcome

    async def _deliver(self, snapshot: Snapshot, job: Job) -> Settle:
        if job.entry.target_kind == "destination":
            if self._destinations is None:
                return self._out.retry_at(job, self._clock() + 5)  # a worker without destinations configured
            return await self._destinations.deliver(snapshot, job, self._out)
        workflow = snapshot.workflows.get(job.entry.workflow)
        if workflow is None or workflow.target.type != "http":
            return self._out.dead(job, "target_removed")
        target = workflow.target
        if workflow.id in self._disabled_now:
            return self._out.dead(job, "target_disabled", self._order_key(workflow, target, job))
        if target.ordered and not await self._at_head(workflow, job):
            return self._out.retry_at(job, self._clock() + self._config.order_wait_s)
        limits = self._limits.get(workflow.id)
        if limits is None:
            limits = self._limits[workflow.id] = limits_of(target)
        admission = await self._limiter.admit(workflow.id, limits, target.timeout_s + 10, self._clock)
        if not admission.admitted:
            return self._out.retry_at(job, self._clock() + self._wait(workflow.id, limits, admission))
        attempt = await self._attempt(workflow.id, target, job, admission)
        job.attempts.append(attempt.record())
        return await self._after(job, workflow, target, attempt)

    def _wait(self, target_id: str, limits: TargetLimits, admission: Admission) -> float:
        """How long a job the target's limits held back waits. The rate limit names the next free slot, the same
        for every job it holds back at once; one of them can have it. So each gets its own slot, in the order
        they were held back, and they come back due one at a time, not as a herd whose stragglers each cost the
        target a slot's worth of lateness."""
        wait = max(admission.wait_s, 0.01)
        if admission.reason == "rate":
            wait += self._held_back[target_id] / limits.rate_per_s
            self._held_back[target_id] += 1
        return wait

    async def _attempt(self, target_id: str, target: HttpTarget, job: Job, admission: Admission) -> Attempt:
        success = False
        try:
            attempt = await post_signed(
                self._http,
                url=target.url.get_secret_value(),
                body=job.entry.body,
                msg_id=message_id(job.id),
                secrets=[s.get_secret_value() for s in target.secrets],
                timeout_s=target.timeout_s,
                now=self._clock,
                headers=content_type_of(job) | _trace(job) | _settings_omitted(job),
                user_settings=job.entry.user_settings,
            )
            # Only what says the target is unwell counts against its breaker; a 4xx is about this one job.
            success = attempt.verdict is not Verdict.RETRY
            return attempt
        finally:
            await self._limiter.done(target_id, admission, success, self._clock)

    async def _after(self, job: Job, workflow: Workflow, target: HttpTarget, attempt: Attempt) -> Settle:
        if attempt.verdict is Verdict.SUCCESS:
            return self._out.finished(job, "delivered", self._order_key(workflow, target, job))
        if attempt.verdict is Verdict.DISABLE:
            await self._disabled.disable(workflow.id, at=self._clock(), status=attempt.status)
            self._disabled_now.add(workflow.id)
            logger.error("target disabled: it answered 410 Gone", extra={"workflow": workflow.id})
            return self._out.dead(job, "target_gone", self._order_key(workflow, target, job))
        if attempt.verdict is Verdict.FAIL:
            return self._out.dead(job, dead_reason(attempt), self._order_key(workflow, target, job))
        policy = RetryPolicy.parse(target.retry_schedule) if target.retry_schedule else self._config.retry
        delay = policy.delay_s(len(job.attempts), attempt.retry_after_s, self._rand)
        if delay is None:
            return self._out.dead(job, "attempts_exhausted", self._order_key(workflow, target, job))
        logger.warning(
            "delivery failed; retry scheduled",
            extra={
                "workflow": workflow.id,
                "job_id": job.id,
                "attempt": len(job.attempts),
                "status": attempt.status,
                "error": attempt.error_class,
                "retry_in_s": round(delay, 3),
            },
        )
        return self._out.retry_at(job, self._clock() + delay)

    async def _at_head(self, workflow: Workflow, job: Job) -> bool:
        key = self._keys.delivery_order(workflow.id, job.entry.credential or job.entry.user)
        async with self._store.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {job.id: _order_score(job.entry.event_id)}, nx=True)
            # Members leave as their jobs settle; the TTL, renewed while the pair is in use, bounds what a job
            # that never settled here leaves behind (its workflow was removed, or stopped being ordered).
            pipe.expire(key, self._config.history_ttl_s)
            pipe.zrange(key, 0, 0)
            *_, head = await pipe.execute()
        return bool(head) and decoded(head[0]) == job.id

    def _order_key(self, workflow: Workflow | None, target: HttpTarget | None, job: Job) -> str:
        if workflow is None or target is None or not target.ordered:
            return ""
        return self._keys.delivery_order(workflow.id, job.entry.credential or job.entry.user)


def _exhausted(snapshot: Snapshot, job: Job, outcome: Settle) -> dict[str, Any]:
    reason = str(outcome.fields.get("dead_reason", ""))
    workflow = job.entry.workflow
    return router_event(
        snapshot,
        "delivery_exhausted",
        project=job.entry.project,
        integration=job.entry.integration,
        workflow=workflow,
        user=job.entry.user,
        message=f"Trigger job of workflow \u201c{workflow}\u201c was dead-lettered ({reason}) after "
        f"{len(job.attempts)} attempt(s)",
        data={"jobId": job.id, "eventId": job.entry.event_id, "reason": reason, "attempts": job.attempts},
    )


def _trace(job: Job) -> dict[str, str]:
    # The request that brought the event, for the target's logs and traces (absent on older jobs).
    entry = job.entry
    if not entry.request_id:
        return {}
    return (
        {"x-request-id": entry.request_id, "traceparent": entry.traceparent}
        if entry.traceparent
        else {"x-request-id": entry.request_id}
    )


def _settings_omitted(job: Job) -> dict[str, str]:
    # Settings too large for the job itself: the target reads them from the registry.
    return {"x-hook-user-settings-omitted": "too_large"} if job.settings_omitted else {}


def content_type_of(job: Job) -> dict[str, str]:
    """The job's stored Content-Type as a header to send, when it has one."""
    try:
        stored = json.loads(job.entry.headers or "{}")
    except ValueError:
        return {}
    value = stored.get("content-type") if isinstance(stored, dict) else None
    return {"content-type": value} if isinstance(value, str) else {}


async def redrive(
    store: EventStore, keys: Keys, *, entry_id: str | None = None, workflow: str | None = None, limit: int = 10_000
) -> int:
    """Put dead letters back to work: one (by its dead-letter entry id) or all of one workflow's target.

    Their attempt history is kept under ``previous_attempts``; the retry schedule starts afresh.
    """
    revived = 0
    for shard in keys.every_shard:
        revived += await _redrive_shard(store, shard, entry_id, workflow, limit - revived)
    return revived


async def _redrive_shard(store: EventStore, keys: Keys, entry_id: str | None, workflow: str | None, limit: int) -> int:
    picked: list[StoredEvent] = []
    after = "-"
    while len(picked) < limit:
        page = await store.scan(keys.delivery_dead, after=after, count=500)
        if not page:
            break
        for entry in page:
            if entry_id not in (None, entry.id):
                continue
            if workflow is None or TriggerJob.lenient(entry.fields).workflow == workflow:
                picked.append(entry)
        after = page[-1].id
    revived = []
    for entry in picked[:limit]:
        fields = {k: v for k, v in entry.fields.items() if k not in ("dead_reason", "dead_at", "attempts")}
        fields["previous_attempts"] = entry.fields.get("attempts", b"[]")
        revived.append(StoredEvent(entry.stream, entry.id, fields))
    await store.redrive(keys.delivery_dead, keys.delivery_jobs, revived)
    return len(revived)
