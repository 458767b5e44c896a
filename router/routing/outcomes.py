"""Routing outcomes: what routing made of each stored event (matched jobs, no credential, ...), one hash field
per event id, in the hash of the event's shard. The one module that reads and writes those hashes; the history,
the admin API, replay and the CLI read them through here.

Values are the JSON the routing worker wrote, returned as stored, so every reader parses one format.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from router.storage.keys import Keys
from router.storage.store import Append, EventStore

Outcome = bytes | str | None  # as redis-py types a reply; the router's clients return bytes


class RoutingOutcomes:
    def __init__(self, store: EventStore, keys: Keys) -> None:
        self._store = store
        self._keys = keys
        self._key = keys.outcomes  # where ``record`` writes: the routing worker's shard

    async def record(
        self,
        writes: Sequence[Append],
        outcomes: Mapping[str, str],
        *,
        stream_registry: str,
        routed: Mapping[str, str] | None = None,
        also: Callable[[Any], Awaitable[None]] | None = None,
    ) -> None:
        """Write trigger jobs and the outcomes of the events they came from in one round trip; raises if any
        write failed (the caller then leaves the events pending, to be routed again). ``routed``: event id →
        project of the events that made jobs, counted once (``router/history/stats.py``); ``also`` queues more
        commands in the same round trip (``EventStore.write``)."""
        await self._store.write(writes, outcomes, self._key, stream_registry=stream_registry, routed=routed, also=also)

    async def get(self, event_id: str) -> Outcome:
        """The outcome of one event; None while it is not routed (or after retention)."""
        return await self._store.redis.hget(self._keys.of_id(event_id).outcomes, event_id)

    async def get_many(self, event_ids: Sequence[str]) -> list[Outcome]:
        """Outcomes in the order of ``event_ids`` (None where there is none); one round trip."""
        if not event_ids:
            return []
        by_shard = _by_shard(self._keys, event_ids)
        async with self._store.redis.pipeline(transaction=False) as pipe:
            for key, ids in by_shard.items():
                pipe.hmget(key, ids)
            replies = await pipe.execute()
        found: dict[str, Outcome] = {}
        for ids, values in zip(by_shard.values(), replies, strict=True):
            found.update(zip(ids, values, strict=True))
        return [found[i] for i in event_ids]

    async def forget(self, event_ids: Sequence[str]) -> None:
        """Drop the outcomes of events deleted before the stream's own trim reaches them."""
        for key, ids in _by_shard(self._keys, event_ids).items():
            await self._store.redis.hdel(key, *ids)

    async def trim_before(self, min_id: str) -> int:
        """Retention: drop the outcomes of events older than ``min_id`` (a stream id), in every shard."""
        return sum([await self._store.trim_outcomes(k.outcomes, min_id) for k in self._keys.every_shard])


def _by_shard(keys: Keys, event_ids: Sequence[str]) -> dict[str, list[str]]:
    out: defaultdict[str, list[str]] = defaultdict(list)
    for event_id in dict.fromkeys(event_ids):
        out[keys.of_id(event_id).outcomes].append(event_id)
    return out
