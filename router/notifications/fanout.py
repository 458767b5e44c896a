"""Notification stream → one delivery job per interested destination.

Reads the notification stream in its own consumer group; for each event, every enabled destination of the
event's project that takes its type (and was not disabled automatically) gets a job on the delivery work
stream; the entry is acked only once its jobs are written (at-least-once; job ids are deterministic).
"""

from __future__ import annotations

import json
import logging

from router.notifications.default_email import ProjectDestinations
from router.notifications.delivery import DisabledDestinations
from router.storage.consumer import QUICK_RECOVER_IDLE_MS, GroupReader
from router.storage.entries import MalformedEntry, Notification, TriggerJob
from router.storage.keys import Keys, destination_job_id
from router.storage.store import Append, EventStore, StoredEvent
from subscriptions.snapshot import Snapshot, SnapshotCache

logger = logging.getLogger(__name__)


class DestinationFanout:
    def __init__(
        self,
        store: EventStore,
        cache: SnapshotCache,
        keys: Keys,
        *,
        batch: int = 100,
        block_ms: int = 1000,
        claim_idle_ms: int = 60_000,
        destinations: ProjectDestinations | None = None,
    ) -> None:
        self._store = store
        self._destinations = destinations or ProjectDestinations()
        self._cache = cache
        self._keys = keys
        self._disabled = DisabledDestinations.of(store, keys)
        self._reader = GroupReader(
            store,
            keys.notifications,
            count=batch,
            block_ms=block_ms,
            claim_idle_ms=claim_idle_ms,
            recover_idle_ms=QUICK_RECOVER_IDLE_MS,
        )

    def reset(self) -> None:
        """After a failed batch: see router.storage.consumer (group recreated, own pending entries taken up again)."""
        self._reader.reset()

    async def run_once(self) -> int:
        events = (await self._reader.next()).events
        if not events:
            return 0
        snapshot = await self._cache.refresh()
        disabled = await self._disabled.ids()
        writes = [job for event in events for job in self._jobs(event, snapshot, disabled)]
        await self._store.write(writes, {}, "")
        await self._store.ack(self._keys.notifications, [e.id for e in events])
        return len(events)

    def _jobs(self, event: StoredEvent, snapshot: Snapshot, disabled: set[str]) -> list[Append]:
        try:
            notification = Notification.from_fields(event.fields, event.id)
        except MalformedEntry as exc:
            # No destination could render it: skipped (and acked with its batch), like a malformed report.
            logger.error("malformed notification skipped", extra={"entry": event.id, "field": exc.field})
            return []
        jobs = []
        for destination in self._destinations.wanting(snapshot, notification.project, notification.type):
            if destination.id in disabled:
                continue
            job = TriggerJob(
                job_id=destination_job_id(event.id, destination.id),
                target_kind="destination",
                destination=destination.id,
                event_id=event.id,
                project=notification.project,
                notification=notification.event,
            )
            jobs.append(Append(self._keys.delivery_jobs, job.to_fields()))
        return jobs


def event_of(entry: StoredEvent) -> dict[str, object]:
    """The failure event held by a notification stream entry."""
    data = json.loads(Notification.lenient(entry.fields).event or b"{}")
    return data if isinstance(data, dict) else {}
