"""Redis-backed CRUD over the registry's records.

Each kind lives in one hash (id → JSON); every change bumps a version counter in the same MULTI so
readers (the in-process snapshot) can tell cheaply whether anything moved. Secrets are sealed with
the SecretBox before they reach Redis and opened only when a snapshot is built.

A record this code cannot read (not JSON, failing validation because a newer version wrote it, a secret
that does not decrypt) is skipped by ``load``/``all``: logged once with its key, kept in ``unreadable``
(key → reason) while it stays so, and never allowed to stop the others from loading. ``put`` replaces it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError
from redis.asyncio import Redis
from redis.exceptions import WatchError

from subscriptions.crypto import SecretBox, is_current
from subscriptions.errors import RegistryChanged, SecretError, UnreadableRecord
from subscriptions.keys import KINDS, RegistryKeys
from subscriptions.models import RECORD_TYPES

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Write:
    """One prepared put: ``action`` is what it will report; ``encoded`` is None when nothing needs writing;
    ``current`` is the stored record it replaces, if one could be read."""

    kind: str
    id: str
    action: str  # created | updated | unchanged
    encoded: str | None
    current: BaseModel | None


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


def _context(kind: str, data: dict[str, Any]) -> tuple[str, str, str]:
    # Binds each ciphertext to its record: a sealed value copied onto another record does not open.
    return kind, str(data.get("project", data.get("id"))), str(data.get("id"))


def _sealing(value: Any, path: str = "") -> set[str]:
    """Where a stored document holds a sealed value, and in which form: two documents with the same answer need
    no rewrite; a value kept in clear by an older version, or sealed in an older form, makes them differ."""
    if isinstance(value, dict):
        if set(value) == {_SEALED}:
            return {f"{path}={is_current(str(value[_SEALED]))}"}
        return set().union(*(_sealing(v, f"{path}/{k}") for k, v in value.items()))
    if isinstance(value, list):
        return set().union(*(_sealing(v, f"{path}/{n}") for n, v in enumerate(value)))
    return set()


class Registry:
    def __init__(self, redis: Redis, box: SecretBox, keys: RegistryKeys | None = None) -> None:
        self._redis = redis
        self._box = box
        self._keys = keys or RegistryKeys()
        self.unreadable: dict[str, str] = {}  # "kind:id" → reason, as of the last load
        self._reported: set[str] = set()  # digests of unreadable values already logged

    @property
    def box(self) -> SecretBox:
        return self._box

    def _seal(self, value: Any, context: tuple[str, ...]) -> Any:
        if isinstance(value, SecretStr):
            return {_SEALED: self._box.seal(value.get_secret_value(), context=context)}
        if isinstance(value, dict):
            return {k: self._seal(v, context) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._seal(v, context) for v in value]
        return value

    def _open(self, value: Any, context: tuple[str, ...]) -> Any:
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

    def _decode(self, kind: str, record_id: str, raw: bytes | str) -> BaseModel:
        """The record; raises UnreadableRecord (nothing else) when it cannot be read."""
        key = f"{kind}:{record_id}"
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            return RECORD_TYPES[kind].model_validate(self._open(data, _context(kind, data)))
        except ValidationError:  # before ValueError, its base: a record of a shape this version does not know
            raise UnreadableRecord(key, "invalid_record") from None
        except SecretError:
            raise UnreadableRecord(key, "undecryptable_secret") from None
        except (ValueError, RecursionError):
            raise UnreadableRecord(key, "invalid_json") from None

    def _readable(self, kind: str, raw: dict[Any, Any], unreadable: dict[str, str]) -> list[BaseModel]:
        records = []
        for record_id, value in sorted(raw.items()):
            try:
                records.append(self._decode(kind, _text(record_id), value))
            except UnreadableRecord as exc:
                unreadable[exc.key] = exc.reason
                self._report(exc, value)
        return records

    def _report(self, exc: UnreadableRecord, value: bytes | str) -> None:
        # Once per stored value: a refresh every 0.25 s must not log the same record four times a second.
        # Never the value itself: it may hold secrets.
        digest = hashlib.sha256(f"{exc.key}\0".encode() + _bytes(value)).hexdigest()
        if digest not in self._reported:
            if len(self._reported) >= 10_000:  # bounded, whatever keeps rewriting bad records
                self._reported.clear()
            self._reported.add(digest)
            logger.error(
                "registry record skipped: it cannot be read",
                extra={"key": self._keys.records(exc.key.split(":", 1)[0]), "record": exc.key, "reason": exc.reason},
            )

    async def check_master_key(self) -> None:
        """Raise SecretError if this registry's secrets were sealed with another master key.

        Records whose secrets do not decrypt are skipped one by one, so a wrong key would otherwise start a
        process that knows no integration; the first process to start with a key leaves a value sealed with it.
        """
        sealed = self._box.seal("hookrouter", context="key-check")
        await self._redis.set(self._keys.key_check, sealed, nx=True)
        stored = await self._redis.get(self._keys.key_check)
        if stored is not None:
            self._box.open(_text(stored), context="key-check")  # SecretError: wrong master key

    async def version(self) -> int:
        raw = await self._redis.get(self._keys.version)
        return int(raw or 0)

    async def stamp(self) -> tuple[str, int]:
        """(epoch, version): what a reader compares to tell whether anything moved; one round trip."""
        epoch, version = await self._redis.mget(self._keys.epoch, self._keys.version)
        return _text(epoch or b""), int(version or 0)

    async def get(self, kind: str, record_id: str) -> BaseModel | None:
        """The record, None if absent; raises UnreadableRecord if it cannot be read."""
        raw = await self._redis.hget(self._keys.records(kind), record_id)
        return None if raw is None else self._decode(kind, record_id, raw)

    async def read(self, kind: str, record_id: str) -> tuple[BaseModel, str] | None:
        """The record and its stored document as it is, secrets sealed (what an ETag is derived from), from one
        read; None if absent; raises UnreadableRecord if it cannot be read."""
        raw = await self._redis.hget(self._keys.records(kind), record_id)
        return None if raw is None else (self._decode(kind, record_id, raw), _text(raw))

    async def all(self, kind: str) -> list[BaseModel]:
        """Every readable record of one kind (unreadable ones are skipped, see the module docstring)."""
        raw = await self._redis.hgetall(self._keys.records(kind))
        return self._readable(kind, raw, {})

    async def put(self, record: BaseModel) -> str:
        """Insert or replace one record. Returns "created", "updated" or "unchanged".

        A record equal to the one stored is still rewritten, as "unchanged", when the stored one keeps a secret
        in clear or sealed in an older form: re-saving a record is how an operator migrates it."""
        write = await self.prepare(record)
        await self.commit([write], [])
        return write.action

    async def prepare(self, record: BaseModel) -> Write:
        """What putting ``record`` would do, without writing: ``commit`` writes any number of these at once."""
        kind = _kind_of(record)
        record_id = str(record.model_dump()["id"])
        raw = await self._redis.hget(self._keys.records(kind), record_id)
        try:
            current = None if raw is None else self._decode(kind, record_id, raw)
        except UnreadableRecord:
            current = None  # an unreadable record is replaced: an update
        encoded = self._encode(kind, record)
        if current is not None and plain(current) == plain(record):
            resealed = _sealing(json.loads(raw or "{}")) != _sealing(json.loads(encoded))
            return Write(kind, record_id, "unchanged", encoded if resealed else None, current)
        return Write(kind, record_id, "updated" if raw is not None else "created", encoded, current)

    async def commit(
        self, writes: Iterable[Write], deletes: Iterable[tuple[str, str]], *, at_version: int | None = None
    ) -> None:
        """Write prepared records and delete (kind, id) pairs in one MULTI with one version bump: readers see
        all of it or none of it, and a failure leaves nothing half-written.

        ``at_version``: the version the writes were prepared at; if any change landed since (an operator arming
        a secret through the API meanwhile), nothing is written and RegistryChanged is raised, so the caller
        plans again instead of overwriting that change."""
        writes = [w for w in writes if w.encoded is not None]
        deletes = list(deletes)
        if not writes and not deletes:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            if at_version is not None:
                await pipe.watch(self._keys.version)  # EXEC fails if the version moves before it
                if int(await pipe.get(self._keys.version) or 0) != at_version:
                    raise RegistryChanged("the registry changed since the writes were prepared")
                pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            for w in writes:
                pipe.hset(self._keys.records(w.kind), w.id, w.encoded or "")
            for kind, record_id in deletes:
                pipe.hdel(self._keys.records(kind), record_id)
            pipe.incr(self._keys.version)
            pipe.set(self._keys.epoch, uuid.uuid4().hex, nx=True)
            try:
                await pipe.execute()
            except WatchError:
                raise RegistryChanged("the registry changed while the writes were sent") from None

    async def delete(self, kind: str, record_id: str) -> bool:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._keys.records(kind), record_id)
            pipe.incr(self._keys.version)
            removed, _ = await pipe.execute()
        return bool(removed)

    async def load(self, kinds: Iterable[str] = KINDS) -> tuple[tuple[str, int], dict[str, list[BaseModel]]]:
        """Every record of every kind plus the stamp (epoch, version) they were read at, in one round trip."""
        kinds = list(kinds)
        async with self._redis.pipeline(transaction=True) as pipe:
            # Two GETs, not an MGET: redis-py refuses MGET in a cluster pipeline (even within one hash tag).
            pipe.get(self._keys.epoch)
            pipe.get(self._keys.version)
            for kind in kinds:
                pipe.hgetall(self._keys.records(kind))
            epoch, version, *hashes = await pipe.execute()
        unreadable: dict[str, str] = {}
        records = {kind: self._readable(kind, raw, unreadable) for kind, raw in zip(kinds, hashes, strict=True)}
        self.unreadable = unreadable
        return (_text(epoch or b""), int(version or 0)), records


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()
