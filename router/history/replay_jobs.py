"""Replay job records: the request (idempotent per client-chosen id), its status, counts and resume cursor.

A record is the hash ``Keys.replay_job(request_id)``; queued ones are on the sorted set ``Keys.replay_pending``
until a worker finishes them; the worker running one holds ``Keys.replay_claim`` (SET NX, a TTL it renews).
Records expire after the retention period: an id can be reused only once the events it replayed are gone too.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from router.errors import RouterError
from router.history.indexes import EventFilter
from router.ingress.sdk.responses import iso_ms
from router.storage.keys import Keys
from router.storage.redis_client import decoded
from router.storage.store import EventStore

MODES = ("reroute", "redeliver")
REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")
FINISHED = ("done", "failed")


class ReplayConflict(RouterError):
    """The request id is already taken by a replay with other parameters."""

    reason = "replay_conflict"
    status = 409

    def answer(self) -> tuple[dict[str, object], dict[str, str] | None]:
        return {"error": "conflict", "message": "this request_id belongs to a replay with other parameters"}, None


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """What to replay: ``event_id`` (one event) or ``filter`` (every event it matches, oldest first). With
    ``job_id`` (one of the event's trigger jobs, redeliver only), that job alone: one workflow execution."""

    request_id: str
    mode: str = "reroute"
    dry_run: bool = False
    event_id: str | None = None
    filter: EventFilter | None = None
    job_id: str | None = None

    def __post_init__(self) -> None:
        if not REQUEST_ID.match(self.request_id):
            raise ValueError("request_id: 1-128 characters of A-Z a-z 0-9 _ . : @ -, starting with a letter or digit")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if (self.event_id is None) == (self.filter is None):
            raise ValueError("give exactly one of event_id or a filter")
        if self.job_id is not None and (self.event_id is None or self.mode != "redeliver"):
            raise ValueError("job_id: one of event_id's jobs, redelivered")

    def params(self) -> str:
        """Canonical JSON of everything but the id: two requests under one id conflict when it differs."""
        flt = (
            None if self.filter is None else {k: v for k, v in dataclasses.asdict(self.filter).items() if v is not None}
        )
        data = {"mode": self.mode, "dry_run": self.dry_run, "event_id": self.event_id, "filter": flt}
        if self.job_id is not None:  # absent otherwise: the params of requests stored before it existed still match
            data["job_id"] = self.job_id
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_params(cls, request_id: str, params: str) -> ReplayRequest:
        data = json.loads(params)
        flt = data.get("filter")
        return cls(
            request_id,
            mode=data["mode"],
            dry_run=bool(data["dry_run"]),
            event_id=data.get("event_id"),
            filter=None if flt is None else EventFilter(**flt),
            job_id=data.get("job_id"),
        )


@dataclass(slots=True)
class Counts:
    matched: int = 0  # events the request selected
    replayed: int = 0  # events copied (reroute) or whose jobs were re-created (redeliver); dry run: would be
    skipped: int = 0  # deliberately not replayed (reasons in ``reasons``)
    failed: int = 0  # selected but no longer stored (trimmed since)
    jobs: int = 0  # trigger jobs re-created (redeliver)
    reasons: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, failed: bool = False) -> None:
        if failed:
            self.failed += 1
        else:
            self.skipped += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def to_hash(self) -> dict[str, str]:
        out = {k: str(getattr(self, k)) for k in ("matched", "replayed", "skipped", "failed", "jobs")}
        out["reasons"] = json.dumps(self.reasons, sort_keys=True)
        return out


@dataclass(frozen=True, slots=True)
class ReplayJob:
    request: ReplayRequest
    status: str  # pending | running | done | failed
    counts: Counts
    created_at_ms: int
    updated_at_ms: int
    started_at_ms: int = 0
    finished_at_ms: int = 0
    total: int | None = None  # events the filter matched when the job started (the progress bar's end)
    cursor: str = ""  # the last event id done: where a resumed job carries on
    waiting_backlog: int = 0  # the live backlog it is paused on, 0 when not paused
    error: str = ""

    @classmethod
    def from_hash(cls, request_id: str, raw: dict[str, str]) -> ReplayJob:
        def n(name: str) -> int:
            return int(raw.get(name, "0"))

        c = Counts(
            n("matched"), n("replayed"), n("skipped"), n("failed"), n("jobs"), json.loads(raw.get("reasons", "{}"))
        )
        return cls(
            ReplayRequest.from_params(request_id, raw["params"]),
            raw.get("status", "pending"),
            c,
            int(raw.get("created_at", "0")),
            int(raw.get("updated_at", "0")),
            int(raw.get("started_at", "0")),
            int(raw.get("finished_at", "0")),
            int(raw["total"]) if raw.get("total") else None,
            raw.get("cursor", ""),
            int(raw.get("waiting_backlog", "0")),
            raw.get("error", ""),
        )

    def to_json(self) -> dict[str, Any]:
        req = self.request
        c = self.counts
        return {
            "id": req.request_id,
            "status": self.status,
            "mode": req.mode,
            "dry_run": req.dry_run,
            "event_id": req.event_id,
            "filter": json.loads(req.params())["filter"],
            "counts": {"matched": c.matched, "replayed": c.replayed, "skipped": c.skipped, "failed": c.failed},
            "jobs": c.jobs,
            "reasons": c.reasons,
            "total": self.total,
            "progress": 1.0 if self.status == "done" else (min(c.matched / self.total, 1.0) if self.total else 0.0),
            "waiting_backlog": self.waiting_backlog,
            "error": self.error or None,
            "created_at": iso_ms(self.created_at_ms),
            "updated_at": iso_ms(self.updated_at_ms),
            "started_at": iso_ms(self.started_at_ms) if self.started_at_ms else None,
            "finished_at": iso_ms(self.finished_at_ms) if self.finished_at_ms else None,
        }


# Create-or-return in one step, so two requests racing on one id cannot both create a job.
# Returns {1, params} when created, {0, params of the existing job} otherwise.
_CREATE = """
local existing = redis.call('HGET', KEYS[1], 'params')
if existing then return {0, existing} end
redis.call('HSET', KEYS[1], 'params', ARGV[1], 'status', 'pending', 'created_at', ARGV[2], 'updated_at', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if ARGV[3] == '1' then redis.call('ZADD', KEYS[2], ARGV[2], ARGV[5]) end
return {1, ARGV[1]}
"""

# Renew the claim only while we still hold it: a worker that stalled past the TTL must notice it lost the job.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


def _now_ms() -> int:
    return int(time.time() * 1000)


class ReplayJobs:
    """The job records: create (idempotent per request id), read, claim, finish."""

    def __init__(self, redis: Redis, keys: Keys, *, record_ttl_s: int = 90 * 86_400) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl_s = record_ttl_s
        self._create = redis.register_script(_CREATE)
        self._renew = redis.register_script(_RENEW)

    @classmethod
    def of(cls, store: EventStore, keys: Keys, *, record_ttl_s: int) -> ReplayJobs:
        """On the client ``store`` uses (its pool and deadline)."""
        return cls(store.redis, keys, record_ttl_s=record_ttl_s)

    async def create(self, request: ReplayRequest, *, queue: bool = True) -> tuple[ReplayJob, bool]:
        """The job of ``request.request_id`` and whether this call created it. Raises ReplayConflict.

        ``queue``: put it on the pending set for the workers (the CLI runs its own, so it does not).
        """
        rid = request.request_id
        params = request.params()
        created, stored = await self._create(
            keys=[self._keys.replay_job(rid), self._keys.replay_pending],
            args=[params, _now_ms(), "1" if queue else "0", self._ttl_s, rid],
        )
        if not int(created) and decoded(stored) != params:
            raise ReplayConflict(rid)
        job = await self.get(rid)
        if job is None:  # expired between the two calls: practically never; say so rather than guess
            raise ReplayConflict(rid)
        return job, bool(int(created))

    async def get(self, request_id: str) -> ReplayJob | None:
        raw = await self._redis.hgetall(self._keys.replay_job(request_id))
        if not raw:
            return None
        return ReplayJob.from_hash(request_id, {decoded(k): decoded(v) for k, v in raw.items()})

    async def update(self, request_id: str, fields: dict[str, str]) -> None:
        mapping: dict[Any, Any] = {**fields, "updated_at": str(_now_ms())}
        await self._redis.hset(self._keys.replay_job(request_id), mapping=mapping)

    async def pending(self, count: int = 10) -> list[str]:
        return [decoded(r) for r in await self._redis.zrange(self._keys.replay_pending, 0, count - 1)]

    async def claim(self, request_id: str, owner: str, ttl_s: int) -> bool:
        return bool(await self._redis.set(self._keys.replay_claim(request_id), owner, nx=True, ex=ttl_s))

    async def renew(self, request_id: str, owner: str, ttl_s: int) -> bool:
        return bool(int(await self._renew(keys=[self._keys.replay_claim(request_id)], args=[owner, ttl_s])))

    async def release(self, request_id: str, *, finished: bool) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            if finished:
                pipe.zrem(self._keys.replay_pending, request_id)
            pipe.execute_command("DEL", self._keys.replay_claim(request_id))  # queued as is on a cluster too
            await pipe.execute()


_RELATIVE = re.compile(r"^(\d+)\s*(s|m|h|d|w)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_when(text: str, *, now_s: float | None = None) -> int:
    """Epoch ms of an ISO-8601 date or time (UTC unless it says otherwise) or of ``2h`` / ``3d`` ago.

    Raises ValueError naming the accepted forms.
    """
    text = text.strip()
    rel = _RELATIVE.match(text)
    if rel:
        now = time.time() if now_s is None else now_s
        return int((now - int(rel.group(1)) * _UNIT_S[rel.group(2)]) * 1000)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r}: give an ISO date or time (2024-05-01, 2024-05-01T12:00:00Z) or 30m, 2h, 3d"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)
