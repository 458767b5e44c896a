"""Routing of custom webhook events (source ``custom``): which workflows one event fires.

Every workflow with ``trigger_type: custom`` and ``trigger`` = the event's definition id is a candidate,
so one event fires every workflow on that trigger type.

- A definition on an **integration** resolves credentials like a catalog webhook: the one named by the
  user-level URL's ``?id=``, or (app level) those of the integration whose ``provider_id`` equals the
  routing value; ``routing.fan_out`` then applies the usual gates.
- A definition on an **API resource** has no credential: it resolves resource connections the same way
  and ``fan_out_connections`` gates on the connection's user (known, not disabled) and the workflow
  (deployed, activated for that user).
"""

from __future__ import annotations

from collections import Counter

from router.routing.core import Outcome, fan_out, job
from router.storage.entries import IngestEvent
from router.storage.keys import Keys
from router.storage.store import Append
from subscriptions.custom import CustomWebhook, ResourceConnection
from subscriptions.models import Workflow
from subscriptions.snapshot import Snapshot


def custom_workflows(snapshot: Snapshot, definition: CustomWebhook) -> list[Workflow]:
    return [
        w
        for w in snapshot.workflows.values()
        if w.trigger_type == "custom" and w.trigger == definition.id and w.integration == definition.owner
    ]


def _connections(snapshot: Snapshot, definition: CustomWebhook, event: IngestEvent) -> list[ResourceConnection]:
    named = event.credential
    if definition.level == "user":
        conn = snapshot.resource_connections.get(named)
        return [conn] if conn is not None and conn.api_resource == definition.api_resource else []
    provider_id = event.provider_id
    if not provider_id:
        return []
    return [
        c
        for c in snapshot.resource_connections.values()
        if c.api_resource == definition.api_resource and c.provider_id == provider_id
    ]


def _user_gate(snapshot: Snapshot, user_id: str) -> str:
    user = snapshot.users.get(user_id)
    if user is None:
        return "user_unknown"
    return "user_disabled" if user.disabled else ""


def fan_out_connections(
    snapshot: Snapshot,
    event: IngestEvent,
    keys: Keys,
    connections: list[ResourceConnection],
    workflows: list[Workflow],
) -> tuple[list[Append], Outcome]:
    """``routing.fan_out`` for API resources: one job per (connection, workflow) that passes the gates."""
    skipped: Counter[str] = Counter()
    writes: list[Append] = []
    jobs: list[dict[str, str]] = []
    for conn in connections:
        gate = _user_gate(snapshot, conn.user)
        for wf in workflows:
            reason = gate or snapshot.workflow_gate(wf, conn.user)
            if reason:
                skipped[reason] += 1
                continue
            write, summary = job(event, keys, wf, None, conn.user, {"connection": conn.id})
            writes.append(write)
            jobs.append({**summary, "connection": conn.id})
    if jobs:
        return writes, Outcome("matched", jobs, dict(skipped))
    return [], Outcome("no_workflow", [], dict(skipped))


def route_custom(snapshot: Snapshot, event: IngestEvent, keys: Keys) -> tuple[list[Append], Outcome]:
    definition = snapshot.custom_webhooks.get(event.definition)
    if definition is None:
        return [], Outcome("definition_unknown")
    workflows = custom_workflows(snapshot, definition)
    if definition.api_resource is not None:
        if definition.api_resource not in snapshot.api_resources:
            return [], Outcome("resource_unknown")
        connections = _connections(snapshot, definition, event)
        if not connections:
            return [], Outcome("no_connection")
        return fan_out_connections(snapshot, event, keys, connections, workflows)
    integration = snapshot.integrations.get(definition.integration or "")
    if integration is None:
        return [], Outcome("integration_unknown")
    if not integration.enabled:
        return [], Outcome("integration_disabled")
    named = event.credential
    if definition.level == "user":
        cred = snapshot.credentials.get(named)
        credentials = [cred] if cred is not None and cred.integration == integration.id else []
    else:
        provider_id = event.provider_id
        credentials = snapshot.credentials_for(integration.id, provider_id) if provider_id else []
    if not credentials:
        return [], Outcome("no_credential")
    return fan_out(snapshot, event, keys, credentials, workflows)
