"""Handshake secrets the router is waiting for because it is creating a subscription itself.

Some providers (Asana's ``X-Hook-Secret``) hand a subscription its signing secret in a handshake sent to the
webhook URL while the create call is still open. Anyone who knows the URL can send such a handshake, so a
secret is taken only while an expectation recorded by the lifecycle code is open for that subscription's
owner and credential, and only once: ``expect`` opens it for a short time, the first ``offer`` fills it
atomically (a second handshake, or one with no expectation, is only captured for the operator), and ``take``
gives the value to the create call when the provider has answered. Keys expire on their own (TTL), so the
family is bounded by the subscriptions being created at one moment.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from subscriptions.crypto import SecretBox
from subscriptions.keys import LifecycleKeys

PENDING = "pending"

# Fill an open expectation once: a second handshake finds a value, not PENDING, and is refused.
_OFFER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
    return 1
end
return 0
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class HandshakeExpectations:
    def __init__(self, redis: Redis, box: SecretBox, keys: LifecycleKeys) -> None:
        self._redis = redis
        self._box = box
        self._keys = keys
        self._offer = redis.register_script(_OFFER)

    def _context(self, owner: str, credential: str) -> tuple[str, str]:
        return "handshake", self._keys.expected_handshake(owner, credential)

    async def expect(self, owner: str, credential: str, ttl_s: float) -> None:
        await self._redis.set(self._keys.expected_handshake(owner, credential), PENDING, px=max(1, int(ttl_s * 1000)))

    async def offer(self, owner: str, credential: str, secret: str) -> bool:
        """Whether ``secret`` was taken for a subscription being created now (else: capture it, nothing more)."""
        if not credential:
            return False  # an app-level URL names no subscription: nothing can be expecting it
        key = self._keys.expected_handshake(owner, credential)
        sealed = self._box.seal(secret, context=self._context(owner, credential))
        return bool(await self._offer(keys=[key], args=[PENDING, sealed]))

    async def take(self, owner: str, credential: str) -> str:
        """The secret a handshake handed over while the expectation was open ("" if none came); closes it."""
        raw = await self._redis.getdel(self._keys.expected_handshake(owner, credential))
        value = _text(raw) if raw is not None else ""
        if not value or value == PENDING:
            return ""
        return self._box.open(value, context=self._context(owner, credential))
