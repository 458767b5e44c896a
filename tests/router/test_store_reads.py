"""``EventStore.get_many`` reads the entries of a batch of ids (replay, retention) with one XRANGE over their span
when they lie close together: whatever the ids (dense, sparse, deleted, repeated, partial, another shard's, out of
order), it answers exactly what reading each id alone answers."""

from __future__ import annotations

import random
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from router.storage.keys import Keys
from router.storage.store import EventStore, StoredEvent

pytestmark = pytest.mark.anyio


def data(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible test data, not secrets


async def one_by_one(redis: Redis, stream: str, ids: list[str]) -> list[StoredEvent]:
    """What get_many answered when it read each id alone (an XRANGE from the id to itself): the reference."""
    shard = getattr(stream, "shard", 0)
    out = []
    for given in ids:
        parts = given.split("-")  # <ms>[-<seq>[-<shard>]]
        entry = "-".join(parts[:2])
        if (int(parts[2]) if len(parts) > 2 else 0) != shard:
            continue  # another shard's event: not in this stream
        rows = cast(list[Any], await redis.xrange(stream, min=entry, max=entry, count=1))
        for entry_id, fields in rows:
            stored_id = entry_id.decode() + (f"-{shard}" if shard else "")
            out.append(StoredEvent(stream, stored_id, {k.decode(): v for k, v in fields.items()}))
    return out


@pytest.mark.parametrize("shard", [0, 2])
async def test_span_reads_answer_as_reads_id_by_id_for_any_selection(redis: Redis, shard: int) -> None:
    keys = Keys("reads", shards=3).shard(shard)
    stream = keys.ingest
    store = EventStore(redis, maxlen=100_000, group="routing", consumer="a")
    ids = [await store.append(stream, {"n": str(n), "body": bytes([n % 256]) * n}) for n in range(300)]
    gone = ids[10:20]
    await store.delete(stream, gone)
    other = Keys("reads", shards=3).shard((shard + 1) % 3)
    foreign = await store.append(other.ingest, {"n": "x"})
    rng = data(shard)
    selections = {
        "dense": ids[5:105],
        "sparse": ids[::7],
        "one": [ids[42]],
        "deleted in between": ids[5:30],
        "shuffled with repeats": rng.sample(ids, 60) + ids[:3],
        "partial and foreign ids": [ids[50].split("-")[0], foreign, ids[51], ids[52]],
        "a wide span, few ids": [ids[0], ids[150], ids[299]],
        "mostly sparse, a dense run": ids[0:300:25] + ids[200:260],
    }
    for name, selection in selections.items():
        assert await store.get_many(stream, selection) == await one_by_one(redis, stream, selection), name
    assert len(await store.get_many(stream, ids[5:105])) == 90  # ten of them deleted
    assert await store.get_many(stream, []) == []
