"""Integration Enabled: which credentials have just become enabled, each reported once.

A credential is enabled when it is VALID, its user is known and not disabled, its integration is known and
enabled, and the user has completed the integration's required settings (``settings_complete``). Each one is
claimed once with SADD on a marker set, so any number of workers agree on who fires it. The caller (the
router, which owns the event store) appends the event and gives the claim back with ``release`` if that
fails, so the next pass tries again. A credential removed from the registry loses its marker: connecting
it again fires again.
"""

from __future__ import annotations

from redis.asyncio import Redis

from subscriptions.keys import LifecycleKeys
from subscriptions.lifecycle import usable
from subscriptions.models import Credential
from subscriptions.snapshot import Snapshot


def _wanted(snapshot: Snapshot, credential: Credential) -> bool:
    return any(
        w.trigger_type == "integration_enabled"
        and w.deployed
        and snapshot.is_activated(w.id, credential.user, credential)
        for w in snapshot.by_integration.get(credential.integration, [])
    )


def enabled_credentials(snapshot: Snapshot) -> list[Credential]:
    """Enabled credentials whose user has an active Integration Enabled workflow on that integration.

    Without such a workflow nothing is claimed (an event nobody listens to would only fill the history); if
    one is activated later, the credential fires then, once.
    """
    return [
        c
        for c in snapshot.credentials.values()
        if c.settings_complete and usable(snapshot, c) is not None and _wanted(snapshot, c)
    ]


class EnabledMarks:
    def __init__(self, redis: Redis, keys: LifecycleKeys | None = None) -> None:
        self._redis = redis
        self._keys = keys or LifecycleKeys()

    async def claim(self, snapshot: Snapshot) -> list[Credential]:
        """The enabled credentials not reported before, now marked as reported."""
        if not snapshot.version:
            return []  # a snapshot never loaded: it would read as "every credential removed"
        ready = sorted(enabled_credentials(snapshot), key=lambda c: c.id)
        marked = {
            m.decode() if isinstance(m, bytes) else str(m) for m in await self._redis.smembers(self._keys.enabled)
        }
        gone = marked - set(snapshot.credentials)
        candidates = [c for c in ready if c.id not in marked]
        if not candidates and not gone:
            return []
        # One round trip: SADD answers 1 only to the worker that added the member, so each is claimed once.
        async with self._redis.pipeline(transaction=False) as pipe:
            for cred in candidates:
                pipe.sadd(self._keys.enabled, cred.id)
            if gone:
                pipe.srem(self._keys.enabled, *sorted(gone))
            replies = await pipe.execute()
        return [cred for cred, added in zip(candidates, replies, strict=False) if added]

    async def release(self, credential_ids: list[str]) -> None:
        if credential_ids:
            await self._redis.srem(self._keys.enabled, *credential_ids)
