"""The audit trail: who changed what through the admin API or the CLI, and when, in one capped stream.

Each entry names the actor (an API key's id, ``admin-token`` for the bootstrap key, ``cli`` for a shell), the
action (the endpoint or command), its target (the request path or record id) and the answer's status. The time
is the entry's id. Only the newest ``MAXLEN`` (about) are kept, so the stream cannot grow without bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from subscriptions.keys import RegistryKeys

# Enough for weeks of operator changes; MAXLEN is approximate (~) so Redis trims whole nodes, cheaply.
MAXLEN = 10_000


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: str
    actor: str
    action: str
    target: str
    status: int

    @property
    def at_ms(self) -> int:
        return int(self.id.partition("-")[0])

    def public(self) -> dict[str, object]:
        return {
            "id": self.id,
            "at_ms": self.at_ms,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "status": self.status,
        }


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _entry(entry_id: Any, fields: Any) -> AuditEntry:
    # redis-py types stream replies as a RESP2/RESP3 union: narrowed here, once. A field this version does not
    # know (or lacks) reads as empty rather than hiding the entry.
    data = {_text(k): _text(v) for k, v in (fields or {}).items()}
    status = data.get("status", "")
    return AuditEntry(
        _text(entry_id),
        data.get("actor", ""),
        data.get("action", ""),
        data.get("target", ""),
        int(status) if status.isascii() and status.isdigit() else 0,
    )


class AuditLog:
    def __init__(self, redis: Redis, keys: RegistryKeys, *, maxlen: int = MAXLEN) -> None:
        self._redis = redis
        self._stream = keys.audit
        self._maxlen = maxlen

    async def record(self, actor: str, action: str, target: str, status: int) -> str:
        fields: dict[Any, Any] = {"actor": actor, "action": action, "target": target, "status": str(status)}
        return _text(await self._redis.xadd(self._stream, fields, maxlen=self._maxlen, approximate=True))

    async def record_many(self, entries: list[tuple[str, str, str, int]]) -> None:
        """Several entries in one round trip (``hookrouter apply`` records one per record it changed)."""
        if not entries:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for actor, action, target, status in entries:
                fields: dict[Any, Any] = {"actor": actor, "action": action, "target": target, "status": str(status)}
                pipe.xadd(self._stream, fields, maxlen=self._maxlen, approximate=True)
            await pipe.execute()

    async def latest(self, count: int, *, before: str | None = None) -> list[AuditEntry]:
        """Newest first; ``before`` (an entry id) pages back from there, excluding it."""
        if before and not before.replace("-", "").strip("0"):  # 0-0: nothing precedes it, and Redis refuses "(0-0"
            return []
        top = f"({before}" if before else "+"
        reply: list[Any] = await self._redis.xrevrange(self._stream, max=top, min="-", count=count) or []
        return [_entry(entry_id, fields) for entry_id, fields in reply]
