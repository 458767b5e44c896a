"""Polled triggers as data: one module per provider API, each a table of ``PollSpec`` by integration type and
trigger name (triggers of one table that share a spec share one poll per credential). ``router/polling/`` runs
them through the egress-guarded client; nothing here does I/O."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from subscriptions.lifecycle import usable
from subscriptions.lifecycle_state import member_of
from subscriptions.models import Credential, Integration, Workflow
from subscriptions.polling import (
    crm,
    dropbox,
    dynamics,
    google,
    jira,
    lever,
    microsoft,
    notion,
    quickbooks,
    salesforce,
    sharepoint,
    teams,
)
from subscriptions.polling.marketo import SPECS as MARKETO_SPECS
from subscriptions.polling.pardot import SPECS as PARDOT_SPECS
from subscriptions.polling.spec import EventRule, PollSpec
from subscriptions.polling.xero import SPECS as XERO_SPECS
from subscriptions.providers import builtin_spec
from subscriptions.snapshot import Snapshot

__all__ = ["SPECS", "WEBHOOK_SERVED", "EventRule", "PollSpec", "Polled", "desired_polls", "poll_spec"]

SPECS: dict[str, dict[str, PollSpec]] = {
    **salesforce.SPECS,
    **google.SPECS,
    **crm.SPECS,
    **notion.SPECS,
    **microsoft.SPECS,
    **jira.SPECS,
    **lever.SPECS,
    **quickbooks.SPECS,
    # Microsoft Graph (SharePoint, Teams), Dataverse and Dropbox.
    **sharepoint.SPECS,
    **teams.SPECS,
    **dynamics.SPECS,
    **dropbox.SPECS,
}
# Xero, Pardot, Marketo; Jira's comments and projects and Lever's postings are in their modules' tables.
SPECS |= {**XERO_SPECS, **PARDOT_SPECS, **MARKETO_SPECS}

# Triggers the provider's own webhooks fire as well (``polled_catalog`` names their event types beside the poll's).
# An integration that receives those webhooks (it holds signing secrets: its webhook URL was given to the provider)
# is not polled for them: polled too, each change would fire twice, under two delivery ids. Lever's webhooks carry
# other events than its polled triggers, so Lever is polled either way.
WEBHOOK_SERVED: dict[str, frozenset[str]] = {
    "jira": frozenset({"New Issue", "Issue Updated", "New Comment", "Project Created", "Project Updated"}),
    "notion": frozenset({"Page Created", "Page Updated"}),
    "quickbooks": frozenset({"New Account", "New Customer", "New Invoice"}),
}


def poll_spec(integration: Integration, workflow: Workflow, *, subscribed: bool = False) -> PollSpec | None:
    """The poll an integration-triggered workflow needs, if its trigger is polled; with the workflow's
    ``trigger_params`` (a Salesforce object, a calendar id) for the parameters the spec takes, and in its key.

    ``subscribed``: the router holds provider-side subscriptions (it has a public URL), so a trigger a
    subscription serves (Outlook's New Message, through Graph) is pushed rather than polled: never both, which
    would fire it twice under two delivery ids. For the same reason a trigger the integration's own webhooks fire
    (``WEBHOOK_SERVED``) is not polled once the integration holds signing secrets."""
    if workflow.trigger_type != "integration":
        return None
    if subscribed and builtin_spec(integration, workflow) is not None:
        return None
    if integration.secrets and workflow.trigger in WEBHOOK_SERVED.get(integration.type, ()):
        return None
    spec = SPECS.get(integration.type, {}).get(workflow.trigger)
    if spec is None:
        return None
    params = {**spec.params, **{k: v for k, v in workflow.trigger_params.items() if k in spec.params}}
    chosen = {k: v for k, v in params.items() if k in workflow.trigger_params}
    if not chosen:
        return spec
    return spec.model_copy(update={"key": f"{spec.key}?{urlencode(sorted(chosen.items()))}", "params": params})


@dataclass(frozen=True, slots=True)
class Polled:
    """One (credential, poll) pair to run."""

    credential: Credential
    integration: Integration
    spec: PollSpec

    @property
    def member(self) -> str:
        return member_of(self.credential.id, self.spec.key)


def desired_polls(snapshot: Snapshot, *, subscribed: bool = False) -> dict[str, Polled]:
    """Every pair a usable credential's deployed, activated workflows need, by member (``credential|spec key``)."""
    out: dict[str, Polled] = {}
    for cred in snapshot.credentials.values():
        integration = usable(snapshot, cred)
        if integration is None:
            continue
        for wf in snapshot.by_integration.get(integration.id, []):
            if not wf.deployed or not snapshot.is_activated(wf.id, cred.user):
                continue
            spec = poll_spec(integration, wf, subscribed=subscribed)
            if spec is not None:
                polled = Polled(cred, integration, spec)
                out.setdefault(polled.member, polled)
    return out
