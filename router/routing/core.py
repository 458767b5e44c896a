"""Routing: which (credential, workflow) pairs a stored event fires, and why not when none.

Pure: a function of the registry snapshot and the stored event. The worker writes what it returns.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import orjson

from router.routing import user_settings
from router.storage.entries import IngestEvent, TriggerJob, workflow_job_fields
from router.storage.keys import Keys, trigger_job_id
from router.storage.store import Append
from subscriptions.models import Credential, Workflow
from subscriptions.snapshot import Snapshot

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """``status``: matched, no_credential, no_workflow, integration_unknown, integration_disabled, unknown_source,
    malformed_entry (``skipped`` then names the field at fault).

    ``skipped`` counts the (credential, workflow) pairs a gate refused, by reason (credential_invalid,
    user_disabled, workflow_not_activated, workflow_permission_denied: the user's metadata fails the workflow's
    permissions, ...), so history shows why a user was not triggered."""

    status: str
    jobs: list[dict[str, str]] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        outcome = {"status": self.status, "jobs": self.jobs, "skipped": self.skipped}
        try:  # one per event routed: orjson in a tenth of the stdlib's time, non-ASCII as UTF-8 (readers parse it)
            return orjson.dumps(outcome, option=orjson.OPT_SORT_KEYS).decode()
        except orjson.JSONEncodeError:  # a lone surrogate in an id: the stdlib writes it escaped
            return _JSON.encode(outcome)


_JSON = json.JSONEncoder(separators=(",", ":"), sort_keys=True)


def _credentials(snapshot: Snapshot, event: IngestEvent) -> list[Credential]:
    integration = event.integration
    if event.credential:  # a user-level URL names its credential; the tenant in the body does not override it
        cred = snapshot.credentials.get(event.credential)
        return [cred] if cred is not None and cred.integration == integration else []
    return snapshot.credentials_for(integration, event.provider_id) if event.provider_id else []


def credential_gate(snapshot: Snapshot, cred: Credential) -> str:
    if cred.status != "VALID":
        return "credential_invalid"
    user = snapshot.users.get(cred.user)
    if user is None:
        return "user_unknown"
    if user.disabled:
        return "user_disabled"
    return ""


def job(
    event: IngestEvent,
    keys: Keys,
    workflow: Workflow,
    credential: Credential | None,
    user: str,
    stamp: Mapping[str, str] | None = None,
) -> tuple[Append, dict[str, str]]:
    """One trigger job for ``workflow``, carrying the event, the credential's User Settings for the workflow (and
    the job fields in ``stamp``, which a router sets for its kind of event). Its id is deterministic, so an event
    routed twice (a worker died before acking) yields the same job id for the runner to deduplicate on."""
    cred_id = credential.id if credential else ""
    job_id = trigger_job_id(event.id, workflow.id, cred_id or user)
    settings, omitted = user_settings.for_job(credential, workflow.id)
    # HTTP targets share one work stream that delivery workers drain; stream targets get the workflow's own.
    stream = keys.delivery_jobs if workflow.target.type == "http" else keys.triggers(workflow.id)
    summary = {"job_id": job_id, "workflow": workflow.id, "credential": cred_id, "user": user}
    if not stamp:
        fields = workflow_job_fields(
            event,
            job_id=job_id,
            workflow=workflow.id,
            credential=cred_id,
            user=user,
            trigger_type=workflow.trigger_type,
            user_settings=settings,
            user_settings_omitted=omitted,
        )
        return Append(stream, fields), summary
    trigger = TriggerJob(
        job_id=job_id,
        event_id=event.id,
        workflow=workflow.id,
        credential=cred_id,
        user=user,
        trigger_type=workflow.trigger_type,
        project=event.project,
        integration=event.integration,
        integration_type=event.integration_type,
        provider_id=event.provider_id,
        event_type=event.event_type,
        delivery_id=event.delivery_id,
        received_at=event.received_at,
        headers=event.headers,
        body=event.body,
        request_id=event.request_id,
        traceparent=event.traceparent,
        user_settings=settings,
        user_settings_omitted=omitted,
    )
    return Append(stream, trigger.replace(**stamp).to_fields()), summary


def fan_out(
    snapshot: Snapshot,
    event: IngestEvent,
    keys: Keys,
    credentials: list[Credential],
    workflows: list[Workflow],
    stamp: Mapping[str, str] | None = None,
) -> tuple[list[Append], Outcome]:
    """Jobs for every (credential, workflow) pair that passes the gates; the outcome says why not otherwise."""
    skipped: Counter[str] = Counter()
    writes: list[Append] = []
    jobs: list[dict[str, str]] = []
    for cred in credentials:
        gate = credential_gate(snapshot, cred)
        for wf in workflows:
            if wf.integration != cred.integration:
                continue
            reason = gate or snapshot.workflow_gate(wf, cred.user, cred)
            if reason:
                skipped[reason] += 1
                continue
            write, summary = job(event, keys, wf, cred, cred.user, stamp)
            writes.append(write)
            jobs.append(summary)
    if jobs:
        return writes, Outcome("matched", jobs, dict(skipped))
    return [], Outcome("no_workflow", [], dict(skipped))


def route_webhook(snapshot: Snapshot, event: IngestEvent, keys: Keys) -> tuple[list[Append], Outcome]:
    integration = snapshot.integrations.get(event.integration)
    if integration is None:
        return [], Outcome("integration_unknown")
    if not integration.enabled:
        return [], Outcome("integration_disabled")
    credentials = _credentials(snapshot, event)
    if not credentials:
        return [], Outcome("no_credential")
    return fan_out(snapshot, event, keys, credentials, snapshot.workflows_for(integration, event.event_type))


Router = Callable[[Snapshot, IngestEvent, Keys], tuple[list[Append], Outcome]]
"""One source's routing: what ``router.routing.table`` maps a stored event's ``source`` field to."""
