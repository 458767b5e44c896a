"""Bounded storage: who trims what, so Redis memory levels off instead of growing with every event.

Two periodic passes, each a class whose ``run_once()`` does one pass and whose ``interval_s`` says how long to
wait before the next:

- ``AckedTrim`` (every few seconds): work streams drop what their readers are done with. The HTTP delivery
  stream and every trigger stream lose the entries each of their consumer groups has acknowledged (XTRIM MINID
  up to the oldest entry some group has pending or not read yet; ``EventStore.trim_acked``). A trigger stream
  no runner reads yet (no group) keeps its jobs for the runner to come, until retention or MAXLEN. The observer
  group of ``hookrouter forward`` (``OBSERVER_GROUP``) is not counted: it neither holds entries back nor lets a
  stream only it reads lose them.
- ``Retention`` (hourly): everything older than the retention period, whether acknowledged or not: the ingest
  stream and its dead letters, routing outcomes, history indexes (``router/history/indexes.py trim_history``, also
  per project), trigger streams, the delivery stream and its dead letters, the notification and executions
  streams. The cut is an id (stream ids start with their time), so XTRIM MINID, no scan.

Every key family the router writes, and what bounds it (prefix ``hr`` left out). The ``{ingest}``, ``{idx}`` and
``{delivery}`` families are one per shard (``HOOKROUTER_SHARDS``): each pass trims every shard, those being drained
included (``Keys.every_shard``).

| key family | bound, and its owner |
| --- | --- |
| ``{ingest}:events``, ``{ingest}:dead`` | retention (``Retention``; a shorter project retention XDELs); MAXLEN |
| ``{ingest}:outcomes`` (hash, field per event) | retention (``RoutingOutcomes.trim_before``; per project HDEL) |
| ``{ingest}:dedup:<project>:<integration>:<id>`` | TTL: the provider's dedup window (``_APPEND_ONCE``, ``store.py``) |
| ``{ingest}:seen:<integration>:<id>`` (earlier versions) | TTL: as above; only read now |
| ``{ingest}:duplicates`` (hash) | one counter per integration |
| ``{ingest}:stats:<minute>`` (hash) | TTL 49 h from its first count; 4 fields per project (``stats.py``) |
| ``{wf:<id>}:triggers`` | ``AckedTrim``; retention; MAXLEN |
| ``{wf}:streams`` (set) | one member per trigger stream written: bounded by the workflows there ever were |
| ``{delivery}:jobs`` | ``AckedTrim`` (entries are small: new jobs, and references of retries); retention; MAXLEN |
| ``{delivery}:job:<id>`` (hash) | deleted when its job ends, in the MULTI of its ack; TTL: retention past due time |
| ``{delivery}:scheduled`` (zset) | members leave when due (``_REQUEUE_DUE``) or when their job ends |
| ``{delivery}:dead`` | retention; a re-drive XDELs what it puts back to work |
| ``{delivery}:history:<job>`` (hash) | TTL: retention (``DeliveryConfig.history_ttl_s``) |
| ``{delivery}:order:<workflow>:<pair>`` (zset) | members leave as their jobs settle; TTL: retention, renewed in use |
| ``{delivery}:disabled``, ``{notify}:disabled`` | one field per target / destination, removed on re-enable |
| ``{notify}:failures`` (hash) | one counter per destination, removed by a success |
| ``{notify}:events``, ``{executions}:events`` | retention; MAXLEN |
| ``{notify}:burst:<integration>:<minute>`` | TTL 120 s |
| ``{notify}:credentials`` (hash) | one or two fields per credential there ever was (kept to tell transitions apart) |
| ``{tgt:<id>}:rate``, ``:leases``, ``:breaker``, ``:probe`` | TTLs set by the limit scripts (``delivery/limits.py``) |
| ``{resp:<execution>}`` | TTL ``response_ttl_s``; deleted when its caller takes it |
| ``{run:<execution>}`` (a runner's report) | TTL: retention (``history/runs.py``); at most ``MAX_STEPS`` steps |
| ``{diag}:<integration>:failures``, ``:captures`` | capped lists (LTRIM to ``diagnostics.KEEP``) |
| ``{replay}:job:<id>``, ``{replay}:claim:<id>`` | TTL: retention, and the claim's own short TTL |
| ``{replay}:pending`` (zset) | members leave when their replay finishes |
| ``{idx}:ev:*``, ``{idx}:job:*`` (zsets) | retention (``trim_history``) |
| ``{idx}:ev-jobs:<event>`` (hash) | retention (``trim_history`` UNLINKs them with their event) |
| ``{api:<key>}:window`` (zset) | at most the rate limit's members; TTL one window (``platform_api/rate_limit.py``) |
| ``{idx}:registry`` (set) | retention: keys it emptied leave the registry |
| ``{poll}:due`` (zset), ``{poll:<pair>}:state`` | one per (credential, poll) pair in use; forgotten with it |
| ``{poll:<pair>}:lease`` | TTL ``PollConfig.lease_s`` (``polling/state.py``) |
| ``{sched}:due`` (zset) | one per (Scheduler workflow, time zone) in use; removed with it (``polling/schedules.py``) |
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from router.history.indexes import trim_history
from router.routing.outcomes import RoutingOutcomes
from router.storage.keys import Keys
from router.storage.store import EventStore
from subscriptions.snapshot import SnapshotCache

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

# Short enough that acknowledged jobs (bodies included) do not pile up under load, long enough that a pass (a
# script per stream) costs Redis nothing noticeable. Trimming is idempotent: any number of workers may run it.
ACKED_TRIM_EVERY_S = 5.0
RETENTION_EVERY_S = 3600.0


async def streams_of(store: EventStore, keys: Keys) -> list[str]:
    """The work streams trimmed: the delivery stream and every trigger stream ever written.

    Never the ingest stream, even when it is in the set: it is the event history (retention bounds it), and its
    routing group acks every entry it routes, so an acked-entry trim would delete every stored event. A reroute
    replay writes its copies there through the same ``write`` that registers streams, so it was in the set.
    """
    registered = await store.registered_streams(keys.stream_registry)
    work = registered | {k.delivery_jobs for k in keys.every_shard}
    return sorted(s for s in work if not keys.is_ingest(s))  # every shard's, those of an earlier N included


class AckedTrim:
    """Drops the work-stream entries every consumer group has acknowledged; see the module docstring."""

    def __init__(self, store: EventStore, keys: Keys, *, interval_s: float = ACKED_TRIM_EVERY_S) -> None:
        self._store = store
        self._keys = keys
        self.interval_s = interval_s  # how long the caller waits between passes
        self.trimmed = 0

    async def run_once(self) -> int:
        """One pass over every work stream; returns how many entries went."""
        trimmed = await self._store.trim_acked(await streams_of(self._store, self._keys))
        self.trimmed += trimmed
        return trimmed


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    retention_s: float = 90 * 86_400.0  # projects without a retention of their own (HOOKROUTER_RETENTION_DAYS)
    interval_s: float = RETENTION_EVERY_S


async def retention(store: EventStore, keys: Keys, cache: SnapshotCache, now: float, retention_s: float) -> str:
    """Trim everything older than the retention period; returns the MINID cut (an id: ``<ms>-0``).

    Exact, not approximate: it runs hourly, and an operator asking for 90 days should get 90 days.
    Any worker may run it; trimming twice is harmless.
    """
    min_id = await trim_history(store, keys, await cache.refresh(), now, retention_s)
    for stream in (
        *(k.ingest for k in keys.every_shard),
        *(k.ingest_dead for k in keys.every_shard),
        *(k.delivery_dead for k in keys.every_shard),
        keys.notifications,
        keys.executions,
        *await streams_of(store, keys),
    ):
        await store.trim_before(stream, min_id, approximate=False)
    await RoutingOutcomes(store, keys).trim_before(min_id)
    return min_id


class Retention:
    """The retention pass as a periodic job: ``run_once()`` trims once, ``interval_s`` apart."""

    def __init__(
        self, store: EventStore, cache: SnapshotCache, keys: Keys, config: RetentionConfig, *, clock: Clock = time.time
    ) -> None:
        self._store = store
        self._cache = cache
        self._keys = keys
        self._config = config
        self._clock = clock
        self.interval_s = config.interval_s

    async def run_once(self) -> str:
        """One pass; returns the cut."""
        return await retention(self._store, self._keys, self._cache, self._clock(), self._config.retention_s)
