"""The lifecycle pass: Integration Enabled events and provider-side subscriptions, every few seconds.

The supervisor runs a pass every ``interval_s`` in every worker process (``serve`` with workers, ``hookrouter
worker``); the work is claimed in Redis (subscriptions.enabled, subscriptions.lifecycle), so running it N times
does it once. Integration Enabled
events are appended here, because only the router's EventStore issues stream commands.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import httpx
from redis.asyncio import Redis

from router.errors import StoreUnavailable
from router.routing.lifecycle import INTEGRATION_ENABLED
from router.settings import Settings
from router.storage.entries import Fields, IngestEvent
from router.storage.keys import Keys
from router.storage.store import EventStore
from subscriptions.crypto import SecretBox
from subscriptions.custom_lifecycle import custom_subscriptions
from subscriptions.enabled import EnabledMarks
from subscriptions.keys import LifecycleKeys
from subscriptions.lifecycle import Lifecycle, Refresh
from subscriptions.models import Credential
from subscriptions.snapshot import Snapshot, SnapshotCache

logger = logging.getLogger(__name__)

PROVIDER_TIMEOUT_S = 20.0  # well under LifecycleConfig.lock_s, so a claim outlives the call it guards


class LifecycleRunner:
    def __init__(
        self,
        cache: SnapshotCache,
        store: EventStore,
        keys: Keys,
        marks: EnabledMarks,
        lifecycle: Lifecycle | None,
        *,
        interval_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._cache = cache
        self._store = store
        self._keys = keys
        self._marks = marks
        self._lifecycle = lifecycle
        self._clock = clock
        self.interval_s = interval_s

    async def run_once(self) -> list[str]:
        """One pass; returns the ids of the Integration Enabled events it appended."""
        snapshot = await self._cache.refresh()
        ids = await self.fire_integration_enabled(snapshot)
        if self._lifecycle is not None:
            done = await self._lifecycle.reconcile_once()
            if done:
                # Nested: an outcome named "created" would overwrite the LogRecord attribute of that name.
                logger.info("provider subscriptions reconciled", extra={"outcomes": dict(done)})
        return ids

    async def fire_integration_enabled(self, snapshot: Snapshot) -> list[str]:
        ids = []
        for cred in await self._marks.claim(snapshot):
            try:
                stream = self._keys.of_event(cred.integration, cred.provider_id or "").ingest
                ids.append(await self._store.append(stream, self._event(snapshot, cred)))
            except StoreUnavailable:
                await self._marks.release([cred.id])  # not stored: the next pass claims it again
                raise
        return ids

    def _event(self, snapshot: Snapshot, cred: Credential) -> Fields:
        integration = snapshot.integrations[cred.integration]  # claim() only returns usable credentials
        return IngestEvent(
            source="lifecycle",
            project=cred.project,
            integration=integration.id,
            integration_type=integration.type,
            provider_id=cred.provider_id or "",
            credential=cred.id,
            event_type=INTEGRATION_ENABLED,
            delivery_id=f"integration_enabled:{cred.id}",
            received_at=str(int(self._clock() * 1000)),
            headers="{}",
            body=json.dumps({"credentialId": cred.id, "userId": cred.user}, separators=(",", ":")).encode(),
        ).to_fields()


def build_runner(
    settings: Settings,
    redis: Redis,
    box: SecretBox,
    cache: SnapshotCache,
    store: EventStore,
    http: httpx.AsyncClient,
    refresh: Refresh | None = None,
) -> LifecycleRunner:
    lifecycle_keys = LifecycleKeys(settings.prefix)
    lifecycle = None
    if settings.public_url:
        lifecycle = Lifecycle(
            cache.refresh,
            redis,
            box,
            http,
            settings.public_url,
            keys=lifecycle_keys,
            holders=(custom_subscriptions,),
            refresh=refresh,
        )
    else:
        logger.info("provider-side subscriptions are off: HOOKROUTER_PUBLIC_URL is not set")
    marks = EnabledMarks(redis, lifecycle_keys)
    return LifecycleRunner(cache, store, Keys.of(settings), marks, lifecycle, interval_s=settings.lifecycle_interval_s)
