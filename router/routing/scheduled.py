"""Routing of a Scheduler tick: one stored tick → a job of its workflow for every activated user whose time zone it
is (every activated user, for interval schedules), with that user's credential of the workflow's integration.

Pure, like ``router.routing.core``.
"""

from __future__ import annotations

import json
from collections import Counter

from router.routing.core import Outcome, fan_out
from router.routing.sdk import pick_credential
from router.storage.entries import IngestEvent
from router.storage.keys import Keys
from router.storage.store import Append
from subscriptions.schedules import user_timezone
from subscriptions.snapshot import Snapshot

SCHEDULE_EVENT = "schedule"


def tick_timezone(event: IngestEvent) -> str:
    """The time zone a stored tick was for; "" for interval schedules (one tick for every user)."""
    try:
        body = json.loads(event.body)
    except ValueError:
        return ""
    value = body.get("timezone") if isinstance(body, dict) else None
    return value if isinstance(value, str) else ""


def route_scheduled(snapshot: Snapshot, event: IngestEvent, keys: Keys) -> tuple[list[Append], Outcome]:
    wf = snapshot.workflows.get(event.workflow)
    if wf is None or wf.trigger_type != "scheduler" or wf.schedule is None or wf.project != event.project:
        return [], Outcome("workflow_unknown")
    integration = snapshot.integrations.get(wf.integration)
    if integration is None or not integration.enabled:
        return [], Outcome("integration_unknown" if integration is None else "integration_disabled")
    tz, schedule = tick_timezone(event), wf.schedule
    skipped: Counter[str] = Counter()
    writes: list[Append] = []
    jobs: list[dict[str, str]] = []
    for user in sorted(snapshot.users.values(), key=lambda u: u.id):
        if user.project != wf.project or not snapshot.is_activated(wf.id, user.id):
            continue
        if tz and user_timezone(user.metadata, schedule) != tz:
            continue  # another time zone's tick
        cred = pick_credential(snapshot, user.id, wf.integration)
        if cred is None:
            skipped["no_credential"] += 1
            continue
        stamp = {"integration": integration.id, "integration_type": integration.type}
        user_writes, outcome = fan_out(snapshot, event, keys, [cred], [wf], stamp)
        skipped.update(outcome.skipped)
        writes += user_writes
        jobs += outcome.jobs
    return writes, Outcome("matched" if jobs else "no_workflow", jobs, dict(skipped))
