"""Routing outcomes: what routing made of each stored event (matched jobs, no credential, ...), one hash field
per ingest entry id. The one module that reads and writes that hash; the history, the admin API, replay and the
CLI read it through here.

Values are the JSON the routing worker wrote, returned as stored, so every reader parses one format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from router.storage.keys import Keys
from router.storage.store import Append, EventStore

Outcome = bytes | str | None  # as redis-py types a reply; the router's clients return bytes


class RoutingOutcomes:
    def __init__(self, store: EventStore, keys: Keys) -> None:
        self._store = store
        self._key = keys.outcomes

    async def record(
        self,
        writes: Sequence[Append],
        outcomes: Mapping[str, str],
        *,
        stream_registry: str,
        routed: Mapping[str, str] | None = None,
    ) -> None:
        """Write trigger jobs and the outcomes of the events they came from in one round trip; raises if any
        write failed (the caller then leaves the events pending, to be routed again). ``routed``: event id →
        project of the events that made jobs, counted once (``router/history/stats.py``)."""
        await self._store.write(writes, outcomes, self._key, stream_registry=stream_registry, routed=routed)

    async def get(self, event_id: str) -> Outcome:
        """The outcome of one event; None while it is not routed (or after retention)."""
        return await self._store.redis.hget(self._key, event_id)

    async def get_many(self, event_ids: Sequence[str]) -> list[Outcome]:
        """Outcomes in the order of ``event_ids`` (None where there is none)."""
        if not event_ids:
            return []
        return await self._store.redis.hmget(self._key, list(event_ids))

    async def forget(self, event_ids: Sequence[str]) -> None:
        """Drop the outcomes of events deleted before the stream's own trim reaches them."""
        if event_ids:
            await self._store.redis.hdel(self._key, *event_ids)

    async def trim_before(self, min_id: str) -> int:
        """Retention: drop the outcomes of events older than ``min_id`` (a stream id)."""
        return await self._store.trim_outcomes(self._key, min_id)
