"""What becomes of a delivery job: rescheduled, finished, or dead-lettered, as a `Settle` for the store.

A job's fields (body included) live in one place at a time: its work-stream entry while new, its hash once
rescheduled (see ``router/storage/store.py``), the dead-letter stream once it gave up; finished, only its history.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from router import metrics
from router.delivery.job import Job
from router.storage.keys import Keys
from router.storage.redis_client import decoded
from router.storage.store import EventStore, Settle

logger = logging.getLogger(__name__)


class Outcomes:
    def __init__(self, keys: Keys, history_ttl_s: int, clock: Callable[[], float]) -> None:
        self._keys = keys
        self._history_ttl_s = history_ttl_s
        self._clock = clock

    def retry_at(self, job: Job, due: float) -> Settle:
        _count(job, "retry")
        attempts = json.dumps(job.attempts).encode()
        # The body goes into the hash once, with the first reschedule; after that only the attempts change.
        fields = {"attempts": attempts} if job.stored else job.entry.replace(attempts=attempts).to_fields()
        return Settle(
            job.id,
            fields,
            scheduled=self._keys.delivery_scheduled,
            job_key=self._keys.delivery_job(job.id),
            # Far past the due time: the hash never expires under a job still waiting, only if one were orphaned.
            job_ttl_s=self._history_ttl_s + max(0, math.ceil(due - self._clock())),
            retry_at=due,
        )

    def history(self, job: Job, status: str, reason: str = "") -> dict[str, Any]:
        return {
            "status": status,
            "reason": reason,
            "workflow": job.entry.workflow,
            "destination": job.entry.destination,
            "event_id": job.entry.event_id,
            "attempts": json.dumps(job.attempts),
            "at": self._clock(),
        }

    def finished(self, job: Job, status: str, release_order: str = "") -> Settle:
        _count(job, status)
        return Settle(
            job.id,
            {},  # a finished job leaves only its history: its fields are written nowhere
            scheduled=self._keys.delivery_scheduled,
            job_key=self._keys.delivery_job(job.id),
            history_key=self._keys.delivery_history(job.id),
            history=self.history(job, status),
            history_ttl_s=self._history_ttl_s,
            release_order=release_order,
        )

    def dead(self, job: Job, reason: str, release_order: str = "") -> Settle:
        _count(job, "dead")
        logger.error(
            "delivery dead-lettered",
            extra={
                "job_id": job.id,
                "workflow": job.entry.workflow,
                "destination": job.entry.destination,
                "reason": reason,
                "attempts": len(job.attempts),
            },
        )
        fields = job.entry.replace(
            attempts=json.dumps(job.attempts).encode(), dead_reason=reason, dead_at=str(self._clock())
        ).to_fields()
        return Settle(
            job.id,
            fields,
            scheduled=self._keys.delivery_scheduled,
            job_key=self._keys.delivery_job(job.id),
            dead_stream=self._keys.delivery_dead,
            history_key=self._keys.delivery_history(job.id),
            history=self.history(job, "dead", reason),
            history_ttl_s=self._history_ttl_s,
            release_order=release_order,
        )


def _count(job: Job, outcome: str) -> None:
    target = job.entry.workflow or job.entry.destination  # registry ids: a bounded label
    metrics.DELIVERIES.labels(target, outcome, metrics.attempt_label(len(job.attempts))).inc()


@dataclass(frozen=True, slots=True)
class JobRecord:
    """Where a delivery job stands, as stored: ``history`` once it ended (status, reason, attempts as JSON,
    ``at``), else ``due`` (unix s) and ``waiting_attempts`` (JSON) while a retry is scheduled; neither while it
    is on its work stream."""

    history: dict[str, str]
    due: float | None
    waiting_attempts: str


class DeliveryRecords:
    """Reads what ``Outcomes`` settled: a job's history hash, its scheduled retry and the attempts it waits with."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    @classmethod
    def of(cls, store: EventStore, keys: Keys) -> DeliveryRecords:
        """On the client ``store`` uses (its pool and deadline)."""
        return cls(store.redis, keys)

    async def waiting(self) -> dict[int, int]:
        """How many jobs wait for their next attempt (the retry queue's depth), by shard: every shard, those being
        drained included, in one round trip."""
        shards = self._keys.every_shard
        async with self._redis.pipeline(transaction=False) as pipe:
            for k in shards:
                pipe.zcard(k.delivery_scheduled)
            depths = await pipe.execute()
        return {k.index: int(depth) for k, depth in zip(shards, depths, strict=True)}

    async def history(self, job_id: str) -> dict[str, str]:
        """A finished job's history (empty while it runs, or after the retention period)."""
        raw = await self._redis.hgetall(self._keys.of_id(job_id).delivery_history(job_id))
        return {decoded(k): decoded(v) for k, v in raw.items()}

    async def records(self, job_ids: Sequence[str]) -> list[JobRecord]:
        """Each job's record, in the order of ``job_ids``, in one round trip."""
        if not job_ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                keys = self._keys.of_id(job_id)  # a job's shard is its event's
                pipe.hgetall(keys.delivery_history(job_id))
                pipe.zscore(keys.delivery_scheduled, job_id)
                pipe.hget(keys.delivery_job(job_id), "attempts")
            replies = await pipe.execute()
        out = []
        for n in range(len(job_ids)):
            history, due, waiting = replies[3 * n : 3 * n + 3]
            out.append(
                JobRecord(
                    history={decoded(k): decoded(v) for k, v in history.items()},
                    due=float(due) if due is not None else None,
                    waiting_attempts=decoded(waiting or b"[]"),
                )
            )
        return out
