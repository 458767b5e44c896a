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
from subscriptions.models import RECORD_TYPES


def _kind_of(record: BaseModel) -> str:
    for kind, model in RECORD_TYPES.items():
        if type(record) is model:
            return kind
    raise TypeError(f"not a registry record: {type(record).__name__}")


_SEALED = "$sealed"


def _merge_sealed(json_data: Any, sealed: Any) -> Any:
    """JSON-mode data, with the sealed form wherever the python-mode dump held a SecretStr."""
    if isinstance(sealed, dict) and set(sealed) == {_SEALED}:
        return sealed
    if isinstance(json_data, dict) and isinstance(sealed, dict):
        return {k: _merge_sealed(v, sealed.get(k)) for k, v in json_data.items()}
    if isinstance(json_data, list) and isinstance(sealed, list):
        return [_merge_sealed(j, x) for j, x in zip(json_data, sealed, strict=False)]
    return json_data


def _reveal(value: Any) -> Any:
    """model_dump(mode="python") output with every SecretStr replaced by its plaintext."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_reveal(v) for v in value]
    return value


def plain(record: BaseModel) -> dict[str, Any]:
    """The record as data with secrets in clear: for comparisons in memory only."""
    return dict(_reveal(record.model_dump(mode="python")))


def _context(kind: str, data: dict[str, Any]) -> str:
    # Binds each ciphertext to its record: a sealed value copied onto another record does not open.
    return f"{kind}:{data.get('project', data.get('id'))}:{data.get('id')}"


class Registry:
    def __init__(self, redis: Redis, box: SecretBox, keys: RegistryKeys | None = None) -> None:
        self._redis = redis
        self._box = box
        self._keys = keys or RegistryKeys()

    @property
    def box(self) -> SecretBox:
        return self._box

    def _seal(self, value: Any, context: str) -> Any:
        if isinstance(value, SecretStr):
            return {_SEALED: self._box.seal(value.get_secret_value(), context=context)}
        if isinstance(value, dict):
            return {k: self._seal(v, context) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._seal(v, context) for v in value]
        return value

    def _open(self, value: Any, context: str) -> Any:
        if isinstance(value, dict):
            if set(value) == {_SEALED}:
                return self._box.open(value[_SEALED], context=context)
            return {k: self._open(v, context) for k, v in value.items()}
        if isinstance(value, list):
            return [self._open(v, context) for v in value]
        return value

    def _encode(self, kind: str, record: BaseModel) -> str:
        # Every SecretStr anywhere in the record (integration secrets, credential tokens, destination keys)
        # is sealed on its own; the rest goes through pydantic's JSON mode.
        data = json.loads(record.model_dump_json())
        sealed = self._seal(record.model_dump(mode="python"), _context(kind, data))
        merged = _merge_sealed(data, sealed)
        return json.dumps(merged, separators=(",", ":"), sort_keys=True)

    def _decode(self, kind: str, raw: bytes | str) -> BaseModel:
        data = json.loads(raw)
        return RECORD_TYPES[kind].model_validate(self._open(data, _context(kind, data)))

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
