"""Which router each stored event's ``source`` takes: the per-source modules, listed once.

The table is built here, above the modules it names, so ``core`` never imports the routers built on it.
"""

from __future__ import annotations

from collections.abc import Mapping

from router.routing.core import Outcome, Router, route_webhook
from router.routing.custom import route_custom
from router.routing.lifecycle import route_integration_enabled
from router.routing.sdk import route_app_event, route_request
from router.storage.keys import Keys
from router.storage.store import Append, StoredEvent
from subscriptions.snapshot import Snapshot

# By the stored event's "source" field; webhooks predate the field, hence "".
ROUTERS: Mapping[str, Router] = {
    "": route_webhook,
    "webhook": route_webhook,
    "custom": route_custom,
    "lifecycle": route_integration_enabled,
    "app_event": route_app_event,
    "request": route_request,
}


def route(snapshot: Snapshot, event: StoredEvent, keys: Keys) -> tuple[list[Append], Outcome]:
    router = ROUTERS.get(event.text("source"))
    if router is None:
        return [], Outcome("unknown_source")
    return router(snapshot, event, keys)
