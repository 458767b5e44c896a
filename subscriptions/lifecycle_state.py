"""What the lifecycle knows about each provider-side subscription, stored in Redis.

One hash per subscription (``LifecycleKeys.state``) plus an index set (the ACTUAL side of the reconciler)
and, per integration, a hash of sealed verification secrets. The spec and the rendering context it was
created with (credential tokens included) are kept sealed too: a subscription must still be deletable after
its credential has been removed from the registry.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.asyncio import Redis

from subscriptions.crypto import SecretBox
from subscriptions.keys import LifecycleKeys
from subscriptions.providers.spec import SubscriptionSpec

# Plain fields of the state hash; ``secret`` and ``sealed`` are stored sealed.
_FIELDS = (
    "credential",
    "integration",
    "spec_key",
    "status",
    "provider_id",
    "op",
    "error",
    "expires_at",
    "issued_at",
    "next_attempt_at",
    "failed_at",
    "attempts",
    "http_status",
)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def member_of(credential: str, spec_key: str) -> str:
    # Credential ids cannot contain "|" (models.Id), so the first "|" splits a member back into its parts.
    return f"{credential}|{spec_key}"


@dataclass
class SubscriptionState:
    """``status``: pending (not created yet, maybe retrying), active, failed (a permanent provider error on
    create or renew: ``http_status`` and ``error`` say which; retried after ``retry_failed_after_s``)."""

    credential: str
    integration: str
    spec_key: str
    status: str = "pending"
    provider_id: str = ""
    expires_at: float = 0.0  # 0: does not expire
    issued_at: float = 0.0
    attempts: int = 0
    next_attempt_at: float = 0.0
    failed_at: float = 0.0
    http_status: int = 0
    op: str = ""
    error: str = ""
    secret: str = field(default="", repr=False)  # plaintext in memory only
    spec: SubscriptionSpec | None = field(default=None, repr=False)
    context: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def member(self) -> str:
        return member_of(self.credential, self.spec_key)

    def public(self) -> dict[str, Any]:
        """Everything an operator may see: no secret, no tokens."""
        data = asdict(self)
        for hidden in ("secret", "spec", "context"):
            data.pop(hidden)
        return data


class StateStore:
    def __init__(self, redis: Redis, box: SecretBox, keys: LifecycleKeys) -> None:
        self._redis = redis
        self._box = box
        self._keys = keys

    def _aad(self, member: str) -> tuple[str, str]:
        return "subscription", member

    async def members(self) -> set[str]:
        return {_text(m) for m in await self._redis.smembers(self._keys.index)}

    async def load(self, member: str) -> SubscriptionState | None:
        raw = await self._redis.hgetall(self._keys.state(member))
        if not raw:
            return None
        data = {_text(k): _text(v) for k, v in raw.items()}
        state = SubscriptionState(
            credential=data.get("credential", ""),
            integration=data.get("integration", ""),
            spec_key=data.get("spec_key", ""),
            status=data.get("status", "pending"),
            provider_id=data.get("provider_id", ""),
            op=data.get("op", ""),
            error=data.get("error", ""),
            expires_at=float(data.get("expires_at") or 0),
            issued_at=float(data.get("issued_at") or 0),
            next_attempt_at=float(data.get("next_attempt_at") or 0),
            failed_at=float(data.get("failed_at") or 0),
            attempts=int(data.get("attempts") or 0),
            http_status=int(data.get("http_status") or 0),
        )
        aad = self._aad(member)
        if data.get("secret"):
            state.secret = self._box.open(data["secret"], context=aad)
        if data.get("sealed"):
            sealed = json.loads(self._box.open(data["sealed"], context=aad))
            state.spec = SubscriptionSpec.model_validate(sealed["spec"])
            state.context = dict(sealed["context"])
        return state

    async def save(self, state: SubscriptionState) -> None:
        member, aad = state.member, self._aad(state.member)
        fields: dict[Any, Any] = {k: str(getattr(state, k)) for k in _FIELDS}
        if state.spec is not None:
            sealed = {"spec": state.spec.model_dump(mode="json"), "context": state.context}
            fields["sealed"] = self._box.seal(json.dumps(sealed), context=aad)
        secret = self._box.seal(state.secret, context=aad) if state.secret else ""
        if secret:
            fields["secret"] = secret
        # MULTI: the state, the index and the secrets hash never disagree (one hash tag, one slot).
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.execute_command("DEL", self._keys.state(member))  # queued as is on a cluster too
            pipe.hset(self._keys.state(member), mapping=fields)
            pipe.sadd(self._keys.index, member)
            if secret:
                pipe.hset(self._keys.secrets(state.integration), member, secret)
            else:
                pipe.hdel(self._keys.secrets(state.integration), member)
            await pipe.execute()

    async def drop(self, state: SubscriptionState) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.execute_command("DEL", self._keys.state(state.member))  # queued as is on a cluster too
            pipe.srem(self._keys.index, state.member)
            pipe.hdel(self._keys.secrets(state.integration), state.member)
            await pipe.execute()

    async def secrets_for(self, integration_id: str, credential_id: str | None = None) -> list[str]:
        """Plaintext verification secrets of an integration's live subscriptions (of one credential when given:
        a user-level URL names it, and then only that credential's subscriptions should vouch for it)."""
        raw = await self._redis.hgetall(self._keys.secrets(integration_id))
        out = []
        for key, value in sorted(raw.items()):
            member = _text(key)
            if credential_id is None or member.split("|", 1)[0] == credential_id:
                out.append(self._box.open(_text(value), context=self._aad(member)))
        return out
