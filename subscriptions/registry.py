"""Redis-backed CRUD over the registry's records.

Each kind lives in one hash (id → JSON); every change bumps a version counter in the same MULTI so
readers (the in-process snapshot) can tell cheaply whether anything moved. Secrets are sealed with
the SecretBox before they reach Redis and opened only when a snapshot is built.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, SecretStr
from redis.asyncio import Redis

from subscriptions.crypto import SecretBox
from subscriptions.keys import KINDS, RegistryKeys
from subscriptions.models import RECORD_TYPES, Integration


def _kind_of(record: BaseModel) -> str:
    for kind, model in RECORD_TYPES.items():
        if type(record) is model:
            return kind
    raise TypeError(f"not a registry record: {type(record).__name__}")


def plain(record: BaseModel) -> dict[str, Any]:
    """The record as JSON-able data with secrets in clear: for comparisons in memory only."""
    data = record.model_dump(mode="json")
    if isinstance(record, Integration):
        data["secrets"] = [s.get_secret_value() for s in record.secrets]
    return data


class Registry:
    def __init__(self, redis: Redis, box: SecretBox, keys: RegistryKeys | None = None) -> None:
        self._redis = redis
        self._box = box
        self._keys = keys or RegistryKeys()

    @property
    def box(self) -> SecretBox:
        return self._box

    def _encode(self, kind: str, record: BaseModel) -> str:
        data = record.model_dump(mode="json")
        if isinstance(record, Integration):
            context = f"integration:{record.project}:{record.id}"
            data["secrets"] = [self._box.seal(s.get_secret_value(), context=context) for s in record.secrets]
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    def _decode(self, kind: str, raw: bytes | str) -> BaseModel:
        data = json.loads(raw)
        if kind == "integration":
            context = f"integration:{data['project']}:{data['id']}"
            data["secrets"] = [SecretStr(self._box.open(s, context=context)) for s in data.get("secrets", [])]
        return RECORD_TYPES[kind].model_validate(data)

    async def version(self) -> int:
        raw = await self._redis.get(self._keys.version)
        return int(raw or 0)

    async def get(self, kind: str, record_id: str) -> BaseModel | None:
        raw = await self._redis.hget(self._keys.records(kind), record_id)
        return None if raw is None else self._decode(kind, raw)

    async def all(self, kind: str) -> list[BaseModel]:
        raw = await self._redis.hgetall(self._keys.records(kind))
        return [self._decode(kind, value) for _, value in sorted(raw.items())]

    async def put(self, record: BaseModel) -> str:
        """Insert or replace one record. Returns "created", "updated" or "unchanged"."""
        kind = _kind_of(record)
        record_id = str(record.model_dump()["id"])
        current = await self.get(kind, record_id)
        if current is not None and plain(current) == plain(record):
            return "unchanged"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._keys.records(kind), record_id, self._encode(kind, record))
            pipe.incr(self._keys.version)
            await pipe.execute()
        return "created" if current is None else "updated"

    async def delete(self, kind: str, record_id: str) -> bool:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._keys.records(kind), record_id)
            pipe.incr(self._keys.version)
            removed, _ = await pipe.execute()
        return bool(removed)

    async def load(self, kinds: Iterable[str] = KINDS) -> tuple[int, dict[str, list[BaseModel]]]:
        """Every record of every kind plus the version they were read at, in one round trip."""
        kinds = list(kinds)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(self._keys.version)
            for kind in kinds:
                pipe.hgetall(self._keys.records(kind))
            version_raw, *hashes = await pipe.execute()
        records = {
            kind: [self._decode(kind, value) for _, value in sorted(raw.items())]
            for kind, raw in zip(kinds, hashes, strict=True)
        }
        return int(version_raw or 0), records
