"""A delivery batch's history statuses go in one script per shard (``index_settled_many``): the history it leaves is
exactly what the one-job status script, run for each settled job in batch order, leaves (a job's status overwrites
the one known, the event's is the worst of its jobs'), over rounds of settles, several jobs of one event, the same
job settled twice in a batch, and events of several shards."""

from __future__ import annotations

import random
from typing import Any

import pytest
from redis.asyncio import Redis

from router.delivery.job import Job
from router.history import indexes
from router.history.indexes import index_settled_many
from router.storage import scripts
from router.storage.entries import TriggerJob
from router.storage.keys import Keys, trigger_job_id
from router.storage.redis_client import decoded
from router.storage.store import EventStore, Settle

pytestmark = pytest.mark.anyio

OWNERS = [("wf-1", "u1"), ("wf-2", "u1"), ("wf-1", "u2"), ("wf/3", "u:3")]


def store(redis: Redis) -> EventStore:
    return EventStore(redis, maxlen=1000, group="delivery", consumer="test")


def _settled(rng: random.Random, events: list[str], n: int) -> list[tuple[Job, Settle]]:
    out = []
    for _ in range(n):
        event_id = rng.choice(events)
        wf, user = rng.choice(OWNERS)
        job_id = trigger_job_id(event_id, wf, user)
        kind = rng.choice(["delivered", "dead", "retry", "retry-first", "destination"])
        entry = TriggerJob(
            event_id=event_id,
            job_id=job_id,
            workflow=wf,
            target_kind="destination" if kind == "destination" else "",
            destination="dest-1" if kind == "destination" else "",
        )
        job = Job(job_id, entry)
        if kind != "retry-first":
            job.attempts.append({"status": 500})
        if kind.startswith("retry"):
            outcome = Settle(job_id, {}, retry_at=1.0)
        elif kind == "dead":
            outcome = Settle(job_id, {}, dead_stream="dead")
        else:
            outcome = Settle(job_id, {})
        out.append((job, outcome))
    return out


async def _one_by_one(redis: Redis, keys: Keys, settled: list[tuple[Job, Settle]]) -> None:
    """How a delivery batch filed its statuses before: the one-event script per job (ARGV 3 "", 4 "0")."""
    script = redis.register_script(indexes._STATUS)
    async with redis.pipeline(transaction=False) as pipe:
        for job, outcome in settled:
            event_id = job.entry.event_id
            if job.entry.target_kind == "destination":
                continue
            if outcome.retry_at is not None:
                status = "failed" if job.attempts else "queued"
            else:
                status = "dead" if outcome.dead_stream else "delivered"
            args = [event_id, indexes.score(event_id), "", "0", 1, job.id, status]
            shard = keys.of_id(event_id)
            await scripts.queue(script, pipe, keys=indexes._status_keys(shard, event_id), args=args)
        await scripts.execute(pipe)


async def _dump(redis: Redis, keys: Keys) -> dict[str, Any]:
    out: dict[str, Any] = {}
    prefix = keys.prefix + ":"
    async for raw in redis.scan_iter(match=prefix + "*"):
        key = decoded(raw)
        if decoded(await redis.type(key)) == "zset":
            rows: list[Any] = await redis.zrange(key, 0, -1, withscores=True)
            value: Any = sorted((decoded(row[0]), row[1]) for row in rows)
        else:
            value = {decoded(k): decoded(v) for k, v in (await redis.hgetall(key)).items()}
        out[key[len(prefix) :]] = value
    return out


async def test_a_batch_files_what_its_jobs_filed_one_by_one(redis: Redis) -> None:
    rng = random.Random(5)  # noqa: S311 - reproducible test data, not secrets
    # Shard 0's ids and shard 1's and 2's (a third part names the shard); a few events, so jobs meet in batches.
    events = [f"{1_700_000_000_000 + i}-{i % 2}" + ("" if i % 3 == 0 else f"-{i % 3}") for i in range(12)]
    batched, single = Keys("batched", shards=3), Keys("single", shards=3)
    for _ in range(6):
        settled = _settled(rng, events, 40)
        await index_settled_many(store(redis), batched, settled)
        await _one_by_one(redis, single, settled)
        got, want = await _dump(redis, batched), await _dump(redis, single)
        assert got == want
    assert len({k.partition("}")[0] for k in want if ":ev-jobs:" in k}) == 3  # every shard's events filed


async def test_only_trigger_jobs_of_stored_events_are_filed(redis: Redis) -> None:
    keys = Keys("none")
    destination = Job("j1", TriggerJob(event_id="1-0", job_id="j1", target_kind="destination", destination="d"))
    no_event = Job("j2", TriggerJob(event_id="", job_id="j2", workflow="wf"))
    await index_settled_many(store(redis), keys, [(destination, Settle("j1", {})), (no_event, Settle("j2", {}))])
    assert [k async for k in redis.scan_iter(match="none:*")] == []
