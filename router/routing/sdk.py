"""Routing of the SDK's events: App Events (one event → every workflow on that event name, across
integrations) and Request triggers (one call → one job for its workflow, whose id is the execution id the caller got).

Pure, like ``router.routing.core``; ``router.routing.table`` maps the two sources here.
"""

from __future__ import annotations

from collections import Counter

from router.routing.core import Outcome, fan_out
from router.storage.entries import IngestEvent
from router.storage.keys import Keys
from router.storage.store import Append
from subscriptions.models import Credential, Workflow
from subscriptions.snapshot import Snapshot


class _UserCredentials:
    """(user, integration) → that user's credentials, built once per snapshot (snapshots are immutable)."""

    def __init__(self) -> None:
        self._snapshot: Snapshot | None = None
        self._index: dict[tuple[str, str], list[Credential]] = {}

    def get(self, snapshot: Snapshot, user: str, integration: str) -> list[Credential]:
        if self._snapshot is not snapshot:
            index: dict[tuple[str, str], list[Credential]] = {}
            for cred in sorted(snapshot.credentials.values(), key=lambda c: c.id):
                index.setdefault((cred.user, cred.integration), []).append(cred)
            self._snapshot, self._index = snapshot, index
        return self._index.get((user, integration), [])


_USER_CREDENTIALS = _UserCredentials()


def pick_credential(snapshot: Snapshot, user: str, integration: str, named: str = "") -> Credential | None:
    """The credential a user's SDK event runs a workflow of ``integration`` with.

    A named credential (X-Hook-Credential / X-Paragon-Credential) is used for workflows of its own
    integration; otherwise the user's first VALID credential of that integration (by id, so the choice
    is stable), else any of theirs so the gates can say why it does not run.
    """
    if named:
        cred = snapshot.credentials.get(named)
        if cred is not None and cred.integration == integration and cred.user == user:
            return cred
    creds = _USER_CREDENTIALS.get(snapshot, user, integration)
    return next((c for c in creds if c.status == "VALID"), creds[0] if creds else None)


def _jobs_for(
    snapshot: Snapshot, event: IngestEvent, keys: Keys, workflows: list[Workflow], **extra: str
) -> tuple[list[Append], Outcome]:
    skipped: Counter[str] = Counter()
    writes: list[Append] = []
    jobs: list[dict[str, str]] = []
    for wf in workflows:
        integration = snapshot.integrations.get(wf.integration)
        if integration is None or not integration.enabled:
            skipped["integration_unknown" if integration is None else "integration_disabled"] += 1
            continue
        cred = pick_credential(snapshot, event.user, wf.integration, event.credential)
        if cred is None:
            skipped["no_credential"] += 1
            continue
        # SDK events belong to a project, not an integration: each job carries its workflow's integration.
        stamp = {"integration": integration.id, "integration_type": integration.type, **extra}
        wf_writes, outcome = fan_out(snapshot, event, keys, [cred], [wf], stamp)
        skipped.update(outcome.skipped)
        writes += wf_writes
        jobs += outcome.jobs
    return writes, Outcome("matched" if jobs else "no_workflow", jobs, dict(skipped))


def route_app_event(snapshot: Snapshot, event: IngestEvent, keys: Keys) -> tuple[list[Append], Outcome]:
    project, name = event.project, event.event_type
    workflows = sorted(
        (
            w
            for w in snapshot.workflows.values()
            if w.project == project and w.trigger_type == "app_event" and w.trigger == name
        ),
        key=lambda w: w.id,
    )
    return _jobs_for(snapshot, event, keys, workflows)


def route_request(snapshot: Snapshot, event: IngestEvent, keys: Keys) -> tuple[list[Append], Outcome]:
    wf = snapshot.workflows.get(event.workflow)
    if wf is None or wf.trigger_type != "request" or wf.project != event.project:
        return [], Outcome("workflow_unknown")
    return _jobs_for(snapshot, event, keys, [wf], execution_id=event.execution_id)
