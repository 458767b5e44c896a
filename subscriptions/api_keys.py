"""Scoped API keys for the admin API: created and revoked by an operator, shown once, stored hashed.

A key reads ``hrk_<key id>_<secret>``. Only the SHA-256 of the secret is stored: the secret is 32 random bytes,
so a fast hash is as good as a slow one, and it keeps every request's check to one HGET and one digest.

Scopes: ``operator`` (everything, key management included), ``project:<id>:read`` and ``project:<id>:write``
(write implies read).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, ValidationError
from redis.asyncio import Redis

from subscriptions.keys import RegistryKeys

PREFIX = "hrk_"
OPERATOR = "operator"
_PROJECT_SCOPE = re.compile(r"^project:([A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}):(read|write)$")
_KEY_ID = re.compile(r"^[0-9a-f]{16}$")
# Writing last_used_at on every request would turn each read into a write; a minute is precise enough to tell
# a key in use from one that can be revoked.
TOUCH_EVERY_S = 60.0


def check_scope(scope: str) -> str:
    """The scope, or ValueError when it is neither ``operator`` nor ``project:<id>:read|write``."""
    if scope != OPERATOR and not _PROJECT_SCOPE.match(scope):
        raise ValueError(f"unknown scope {scope!r}: use operator, project:<id>:read or project:<id>:write")
    return scope


def project_scope(project: str, access: str) -> str:
    return f"project:{project}:{access}"


def allows(scopes: Iterable[str], required: str) -> bool:
    """Whether a key holding ``scopes`` may do what ``required`` names; operator may do anything."""
    held = set(scopes)
    if OPERATOR in held or required in held:
        return True
    match = _PROJECT_SCOPE.match(required)
    return bool(match and match.group(2) == "read" and project_scope(match.group(1), "write") in held)


class _Stored(BaseModel):
    """The document in Redis. Unknown fields are ignored, so a key written by a newer version still works."""

    model_config = ConfigDict(extra="ignore")

    id: str
    name: str
    scopes: list[str]
    secret_sha256: str
    created_at: float
    revoked: bool = False
    revoked_at: float | None = None


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as listed: never its secret."""

    id: str
    name: str
    scopes: tuple[str, ...]
    created_at: float
    last_used_at: float | None
    revoked: bool

    def public(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "scopes": list(self.scopes),
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "revoked": self.revoked,
        }


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _split(token: str) -> tuple[str, str] | None:
    if not token.startswith(PREFIX):
        return None
    key_id, sep, secret = token[len(PREFIX) :].partition("_")
    if not sep or not secret or not _KEY_ID.match(key_id):
        return None
    return key_id, secret


class ApiKeys:
    def __init__(self, redis: Redis, keys: RegistryKeys, *, clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self._keys = keys
        self._clock = clock
        self._touched: dict[str, float] = {}  # key id → when this process last wrote its last_used_at

    async def create(self, name: str, scopes: Iterable[str]) -> tuple[ApiKey, str]:
        """The new key and its full token; the token is not kept anywhere and cannot be shown again."""
        checked = sorted({check_scope(s) for s in scopes})
        if not checked:
            raise ValueError("a key needs at least one scope")
        if not name.strip() or len(name) > 200:
            raise ValueError("name: 1-200 characters")
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        stored = _Stored(id=key_id, name=name, scopes=checked, secret_sha256=_digest(secret), created_at=self._clock())
        await self._redis.hset(self._keys.api_keys, key_id, stored.model_dump_json())
        return _public(stored, None), f"{PREFIX}{key_id}_{secret}"

    async def list(self) -> list[ApiKey]:
        raw = await self._redis.hgetall(self._keys.api_keys)
        used = await self._redis.hgetall(self._keys.api_keys_used)
        found = [s for v in raw.values() if (s := _parse(v)) is not None]
        return [_public(s, _used(used, s.id)) for s in sorted(found, key=lambda s: (s.created_at, s.id))]

    async def revoke(self, key_id: str) -> bool:
        """True when the key existed and was live; a revoked key stays listed, so its last use can be read."""
        stored = await self._get(key_id)
        if stored is None or stored.revoked:
            return False
        revoked = stored.model_copy(update={"revoked": True, "revoked_at": self._clock()})
        await self._redis.hset(self._keys.api_keys, key_id, revoked.model_dump_json())
        return True

    async def authenticate(self, token: str) -> ApiKey | None:
        """The live key ``token`` names, or None (unknown, revoked, malformed, wrong secret): callers answer 401."""
        parts = _split(token)
        if parts is None:
            return None
        key_id, secret = parts
        stored = await self._get(key_id)
        if stored is None or not hmac.compare_digest(_digest(secret), stored.secret_sha256) or stored.revoked:
            return None
        now = self._clock()
        if now - self._touched.get(key_id, float("-inf")) >= TOUCH_EVERY_S:
            self._touched[key_id] = now
            await self._redis.hset(self._keys.api_keys_used, key_id, repr(now))
        return _public(stored, now)

    async def _get(self, key_id: str) -> _Stored | None:
        return _parse(await self._redis.hget(self._keys.api_keys, key_id))


def _parse(raw: bytes | str | None) -> _Stored | None:
    # A document this version cannot read is a key that does not authenticate: fail closed.
    if raw is None:
        return None
    try:
        return _Stored.model_validate(json.loads(raw))
    except (ValueError, ValidationError):
        return None


def _used(used: dict[bytes | str, bytes | str], key_id: str) -> float | None:
    value = used.get(key_id.encode(), used.get(key_id))
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


def _public(stored: _Stored, last_used_at: float | None) -> ApiKey:
    return ApiKey(stored.id, stored.name, tuple(stored.scopes), stored.created_at, last_used_at, stored.revoked)
