"""Traffic counts per minute: what arrived, what was stored, routed, dropped as a repeat or refused by verification.

Each count is written where its event happens, by the command that already does the work (``Counted`` in
``router/storage/store.py``): the append of a stored event (``stored``; a repeat delivery the append-once script
drops, ``duplicate``), the first write of an event's routing outcome when routing made jobs (``routed``), and the
diagnostics pipeline of a rejected webhook (``failed_verification``). Every count is kept as a total and per
project, in one hash per minute (``Keys.stats``) that expires ``TTL_S`` after the minute's first count: at most
four fields per project with traffic in that minute, plus four totals.

``received`` is not counted apart: it is stored + duplicate + failed verification, every request an integration's
URL answered after reading it (an unknown integration, a body too large or a store that did not answer are not).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from router.storage.keys import Keys
from router.storage.redis_client import decoded
from router.storage.store import Counted, EventStore

HOURS = 48  # how far back counts are kept and can be asked for
TTL_S = (HOURS + 1) * 3600
COUNTED = ("stored", "duplicate", "routed", "failed_verification")
BUCKETS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "3h": 3 * 3600, "6h": 6 * 3600, "1d": 86_400}


def counted(keys: Keys) -> Counted:
    """What the process's stores count, for ``EventStore(counted=...)``."""
    shards = keys.every_shard
    return Counted({k.ingest: k.stats("") for k in shards}, {k.outcomes: k.stats("") for k in shards}, TTL_S)


def queue_failure(pipe: Any, keys: Keys, project: str, at_ms: int) -> None:
    """Count one failed verification in ``pipe`` (the diagnostics' own pipeline, best effort like it)."""
    key = keys.stats(at_ms // 60_000)
    pipe.hincrby(key, "failed_verification", 1)
    pipe.hincrby(key, f"failed_verification|{project}", 1)
    pipe.expire(key, TTL_S)


@dataclass(frozen=True, slots=True)
class Bucket:
    start_ms: int
    end_ms: int
    stored: int = 0
    duplicate: int = 0
    routed: int = 0
    failed_verification: int = 0

    @property
    def received(self) -> int:
        return self.stored + self.duplicate + self.failed_verification


def _count(value: Any) -> int:
    return 0 if value is None else int(decoded(value))


class Stats:
    def __init__(self, store: EventStore, keys: Keys) -> None:
        self._redis = store.redis
        self._keys = keys

    async def buckets(self, since_ms: int, until_ms: int, bucket_s: int, project: str | None = None) -> list[Bucket]:
        """Counts per bucket of ``bucket_s`` from ``since_ms`` (a minute boundary) up to ``until_ms``; each minute
        hash read once, in one round trip. ``project``: that project's counts; None: every project's."""
        names = [name if project is None else f"{name}|{project}" for name in COUNTED]
        minutes = range(since_ms // 60_000, -(-until_ms // 60_000))
        shards = self._keys.every_shard
        async with self._redis.pipeline(transaction=False) as pipe:
            for minute in minutes:
                for shard in shards:  # each shard counts its own events: summed here
                    pipe.hmget(shard.stats(minute), names)
            per_shard = await pipe.execute()
        replies = [
            [sum(_count(r[i]) for r in per_shard[m * len(shards) : (m + 1) * len(shards)]) for i in range(len(names))]
            for m in range(len(minutes))
        ]
        width = bucket_s * 1000
        out: list[Bucket] = []
        starts = range(since_ms, until_ms, width)
        sums = {start: [0] * len(COUNTED) for start in starts}
        for minute, reply in zip(minutes, replies, strict=True):
            start = since_ms + (minute * 60_000 - since_ms) // width * width
            if start in sums:
                sums[start] = [s + v for s, v in zip(sums[start], reply, strict=True)]
        for start in starts:
            out.append(Bucket(start, min(start + width, until_ms), *sums[start]))
        return out
