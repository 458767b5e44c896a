"""Failure events for event destinations, in the platform's shapes, and the stream they are written to.

``workflow_failure`` and ``credentials_failure`` follow the platform's JSON exactly (type, timestamp in ms,
timestampISO, message, user{id,metadata}, project{id,name}, integration{id,type}, workflow{id,name},
data{...}). The router adds its own: ``delivery_exhausted`` (a trigger job dead-lettered),
``destination_disabled`` and ``verification_failures`` (a burst of failed signatures on one integration).
Every event is appended to the notification stream first; destinations are fed from there.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from router.storage.entries import Notification
from router.storage.keys import Keys
from router.storage.store import EventStore
from subscriptions.snapshot import Snapshot


def _stamp(now: float) -> dict[str, Any]:
    ms = int(now * 1000)
    iso = datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return {"timestamp": ms, "timestampISO": iso}


def _user(snapshot: Snapshot, user_id: str) -> dict[str, Any]:
    user = snapshot.users.get(user_id)
    return {"id": user_id, "metadata": dict(user.metadata) if user else {}}


def _project(snapshot: Snapshot, project_id: str) -> dict[str, Any]:
    project = snapshot.projects.get(project_id)
    return {"id": project_id, "name": project.name if project else ""}


def _integration(snapshot: Snapshot, integration_id: str) -> dict[str, Any]:
    integration = snapshot.integrations.get(integration_id)
    return {"id": integration_id, "type": integration.type if integration else ""}


def workflow_failure(
    snapshot: Snapshot,
    *,
    project: str,
    workflow: str,
    user: str,
    execution_id: str,
    error: str,
    step: dict[str, Any] | None = None,
    execution_url: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    at = time.time() if now is None else now
    wf = snapshot.workflows.get(workflow)
    name = wf.name if wf else workflow
    stamp = _stamp(at)
    return {
        "type": "workflow_failure",
        **stamp,
        "message": f"Workflow \u201c{name}\u201c failed for User {user}",
        "user": _user(snapshot, user),
        "project": _project(snapshot, project),
        "integration": _integration(snapshot, wf.integration if wf else ""),
        "workflow": {"id": workflow, "name": name},
        "data": {
            "type": "workflow_failure",
            "projectId": project,
            "workflowId": workflow,
            "workflowExecution": {"id": execution_id},
            "stepExecution": dict(step or {}),
            "timestamp": stamp["timestamp"],
            "error": error,
            "executionUrl": execution_url,
        },
    }


def credentials_failure(snapshot: Snapshot, *, credential: str, error: str, now: float | None = None) -> dict[str, Any]:
    cred = snapshot.credentials.get(credential)
    user = cred.user if cred else ""
    integration = _integration(snapshot, cred.integration if cred else "")
    return {
        "type": "credentials_failure",
        **_stamp(time.time() if now is None else now),
        "message": f"Connected User \u201c{user}\u201c credential for {integration['type']} expired and can not be "
        "refreshed.",
        "user": _user(snapshot, user),
        "project": _project(snapshot, cred.project if cred else ""),
        "integration": integration,
        "data": {"userId": user, "error": error},
    }


def router_event(
    snapshot: Snapshot,
    kind: str,
    *,
    project: str,
    message: str,
    data: dict[str, Any],
    integration: str = "",
    workflow: str = "",
    user: str = "",
    now: float | None = None,
) -> dict[str, Any]:
    """One of the router's own events (delivery_exhausted, destination_disabled, verification_failures), in
    the same envelope as the platform's so one destination template serves them all."""
    event: dict[str, Any] = {
        "type": kind,
        **_stamp(time.time() if now is None else now),
        "message": message,
        "project": _project(snapshot, project),
        "data": {"type": kind, **data},
    }
    if user:
        event["user"] = _user(snapshot, user)
    if integration:
        event["integration"] = _integration(snapshot, integration)
    if workflow:
        wf = snapshot.workflows.get(workflow)
        event["workflow"] = {"id": workflow, "name": wf.name if wf else workflow}
    return event


class Notifier:
    """Appends failure events to the notification stream (the only way events reach destinations)."""

    def __init__(self, store: EventStore, keys: Keys) -> None:
        self._store = store
        self._keys = keys

    async def emit(self, event: dict[str, Any]) -> str:
        entry = Notification(
            type=str(event["type"]),
            project=str(event.get("project", {}).get("id", "")),
            event=json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode(),
        )
        return await self._store.append(self._keys.notifications, entry.to_fields())
