"""Which router each stored event's ``source`` takes: the per-source modules, listed once.

The table is built here, above the modules it names, so ``core`` never imports the routers built on it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from router.routing.core import Outcome, Router, route_webhook
from router.routing.custom import route_custom
from router.routing.lifecycle import route_integration_enabled
from router.routing.scheduled import route_scheduled
from router.routing.sdk import route_app_event, route_request
from router.storage.entries import IngestEvent, MalformedEntry
from router.storage.keys import Keys
from router.storage.store import Append, StoredEvent
from subscriptions.snapshot import Snapshot

logger = logging.getLogger(__name__)

# By the stored event's "source" field; webhooks predate the field, hence "".
ROUTERS: Mapping[str, Router] = {
    "": route_webhook,
    "webhook": route_webhook,
    "custom": route_custom,
    "lifecycle": route_integration_enabled,
    "poll": route_webhook,
    "scheduler": route_scheduled,  # a polled record names its credential, as a user-level webhook URL does
    "app_event": route_app_event,
    "request": route_request,
}


def route(snapshot: Snapshot, stored: StoredEvent, keys: Keys) -> tuple[list[Append], Outcome]:
    _, writes, outcome = route_read(snapshot, stored, keys)
    return writes, outcome


def route_read(snapshot: Snapshot, stored: StoredEvent, keys: Keys) -> tuple[IngestEvent, list[Append], Outcome]:
    """``route``, also handing back the event as read (leniently when it is malformed), so a caller that files
    it too (the history indexes) reads its fields once."""
    try:
        event = IngestEvent.from_fields(stored.fields, stored.id)
    except MalformedEntry as exc:
        # Recorded and acked like any event nothing can route (unknown_source, integration_unknown): routing it
        # again would not make it readable. The outcome names the field, the log says which entry.
        logger.warning("malformed ingest entry", extra={"event_id": stored.id, "field": exc.field})
        return IngestEvent.lenient(stored.fields, stored.id), [], Outcome("malformed_entry", skipped={exc.field: 1})
    router = ROUTERS.get(event.source)
    if router is None:
        return event, [], Outcome("unknown_source")
    writes, outcome = router(snapshot, event, keys)
    return event, writes, outcome
