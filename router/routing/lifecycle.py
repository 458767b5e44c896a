"""Routing of lifecycle events (source ``lifecycle``), appended by router.runtime.lifecycle.

``integration_enabled``: a credential became usable and its user finished the integration's required
settings. It fires every workflow of that credential's integration with ``trigger_type: integration_enabled``,
through ``routing.fan_out`` and so through the usual gates (credential VALID, user not disabled, workflow
deployed and activated for that user).
"""

from __future__ import annotations

from router.routing.core import Outcome, fan_out
from router.storage.entries import IngestEvent
from router.storage.keys import Keys
from router.storage.store import Append
from subscriptions.snapshot import Snapshot

INTEGRATION_ENABLED = "integration_enabled"


def route_integration_enabled(snapshot: Snapshot, event: IngestEvent, keys: Keys) -> tuple[list[Append], Outcome]:
    if event.event_type != INTEGRATION_ENABLED:
        return [], Outcome("unknown_event_type")
    credential = snapshot.credentials.get(event.credential)
    if credential is None:
        return [], Outcome("no_credential")
    integration = snapshot.integrations.get(credential.integration)
    if integration is None:
        return [], Outcome("integration_unknown")
    if not integration.enabled:
        return [], Outcome("integration_disabled")
    workflows = [w for w in snapshot.by_integration.get(integration.id, []) if w.trigger_type == INTEGRATION_ENABLED]
    return fan_out(snapshot, event, keys, [credential], workflows)
