"""HTTP targets disabled because they answered 410 Gone: the one module that reads and writes that hash.

A disabled target's jobs are dead-lettered without an attempt until an operator re-enables it (admin API).
The record says when and with which status, so the operator sees why.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis

from router.storage.keys import Keys
from router.storage.store import EventStore


class DisabledTargets:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._key = keys.disabled_targets

    @classmethod
    def of(cls, store: EventStore, keys: Keys) -> DisabledTargets:
        """On the client ``store`` uses (its pool and deadline)."""
        return cls(store.redis, keys)

    async def disable(self, workflow_id: str, *, at: float, status: int | None) -> None:
        await self._redis.hset(self._key, workflow_id, json.dumps({"at": at, "status": status}))

    async def among(self, workflow_ids: Iterable[str]) -> frozenset[str]:
        """Which of these targets are disabled, in one round trip (a delivery batch asks once, not per job)."""
        ids = sorted(workflow_ids)
        if not ids:
            return frozenset()
        flags = await self._redis.hmget(self._key, ids)
        return frozenset(i for i, flag in zip(ids, flags, strict=True) if flag is not None)

    async def record(self, workflow_id: str) -> dict[str, Any] | None:
        """When and why the target was disabled; None while it is enabled."""
        raw = await self._redis.hget(self._key, workflow_id)
        return json.loads(raw) if raw else None

    async def enable(self, workflow_id: str) -> bool:
        """Lift the disable; True if the target was disabled."""
        return bool(await self._redis.hdel(self._key, workflow_id))
