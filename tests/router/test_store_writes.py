"""``EventStore.write`` appends a batch's entries to their streams as runs (one script call per run of entries with
the same field names): each stream ends up holding exactly what one XADD per entry, in the order given, left."""

from __future__ import annotations

import random
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import DataError

from router.history import stats
from router.storage import store as store_module
from router.storage.keys import Keys
from router.storage.redis_client import decoded
from router.storage.store import Append, EventStore
from tests.router.conftest import xrange_all

pytestmark = pytest.mark.anyio


def store(redis: Redis) -> EventStore:
    return EventStore(redis, maxlen=100_000, group="routing", consumer="test")


def data(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible test data, not secrets


def _fields(rng: random.Random, n: int) -> dict[str, Any]:
    # A few shapes of entry, as a batch mixes them: some with request ids, some with user settings, one odd order.
    shape = rng.choice(
        [
            ("job_id", "event_id", "workflow", "body"),
            ("job_id", "event_id", "workflow", "body", "request_id", "traceparent"),
            ("job_id", "event_id", "workflow", "user_settings", "body"),
            ("event_id", "job_id", "body"),
        ]
    )
    values: dict[str, Any] = {}
    for name in shape:
        if name == "body":
            values[name] = rng.randbytes(rng.choice([0, 1, 17, 1024]))  # raw bytes: NUL, invalid UTF-8, empty
        elif name == "workflow":
            values[name] = rng.choice(["wf-1", "wf/ü", ""])
        else:
            values[name] = f"{name}-{n}"
    if rng.random() < 0.1:
        values["attempt"] = n  # an int, as redis-py would encode it
    return values


async def _entries(redis: Redis, stream: str) -> list[list[tuple[bytes, bytes]]]:
    return [list(fields.items()) for _, fields in await xrange_all(redis, stream)]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_batch_lands_as_one_xadd_per_entry_would_leave_it(redis: Redis, seed: int) -> None:
    rng = data(seed)
    streams = ["t:{wf:a}:triggers", "t:{wf:b}:triggers", "t:{delivery}:jobs"]
    writes = [Append(rng.choice(streams), _fields(rng, n)) for n in range(300)]
    await store(redis).write(writes, {}, "")
    for stream in streams:
        expected = "plain:" + stream
        async with redis.pipeline(transaction=False) as pipe:
            for w in writes:
                if w.stream == stream:
                    pipe.xadd(expected, dict[Any, Any](w.fields))
            await pipe.execute()
        assert await _entries(redis, stream) == await _entries(redis, expected)
        assert await _entries(redis, stream), "nothing written"


async def test_an_entry_over_the_run_bound_is_appended_in_its_place(redis: Redis) -> None:
    stream = "t:{wf:big}:triggers"
    big = b"\x00\xff" * (store_module._RUN_BYTES // 2 + 1)
    writes = [
        Append(stream, {"job_id": "1", "body": b"a"}),
        Append(stream, {"job_id": "2", "body": big}),
        Append(stream, {"job_id": "3", "body": b"c"}),
        *(Append(stream, {"job_id": str(n), "body": b"x" * (store_module._RUN_BYTES // 3)}) for n in range(4, 9)),
    ]
    await store(redis).write(writes, {}, "")
    stored = await _entries(redis, stream)
    assert [dict(fields)[b"job_id"] for fields in stored] == [str(n).encode() for n in range(1, 9)]
    assert dict(stored[1])[b"body"] == big


async def test_an_entry_without_fields_is_refused_and_nothing_of_the_batch_is_written(redis: Redis) -> None:
    stream = "t:{wf:c}:triggers"
    with pytest.raises(DataError, match="non-empty"):  # redis-py's refusal of an XADD without fields, as before
        await store(redis).write([Append(stream, {"job_id": "1"}), Append(stream, {})], {}, "")
    assert await redis.xlen(stream) == 0


async def test_a_run_on_a_counted_stream_counts_each_entry_as_stored_under_its_project(redis: Redis) -> None:
    keys = Keys()
    counted = EventStore(redis, maxlen=100_000, group="routing", consumer="test", counted=stats.counted(keys))
    projects = ["p1", "p2", "p1", None, "p1", "p2"]  # None: an entry without a project field
    writes = [
        Append(keys.ingest, {"source": "webhook", **({"project": p} if p else {}), "replay_of": f"1-{n}", "body": b"x"})
        for n, p in enumerate(projects)
    ]
    await counted.write(writes, {}, "")
    stored = await xrange_all(redis, keys.ingest)
    assert [fields.get(b"replay_of") for _, fields in stored] == [f"1-{n}".encode() for n in range(6)]
    totals: dict[str, int] = {}
    for minute in {int(entry_id.split(b"-")[0]) // 60_000 for entry_id, _ in stored}:
        for name, value in (await redis.hgetall(keys.stats(minute))).items():
            totals[decoded(name)] = totals.get(decoded(name), 0) + int(value)
        assert 0 < await redis.ttl(keys.stats(minute)) <= stats.TTL_S
    assert totals == {"stored": 6, "stored|p1": 3, "stored|p2": 2, "stored|": 1}
