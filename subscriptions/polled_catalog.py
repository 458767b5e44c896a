"""Polled integration triggers, and the integration types that have no webhook verifier: data, not code.

The platform polls these integrations ("Polling triggers send one request per minute to an account to check on
created / updated records", ``reference/platform-triggers.md``): no provider webhook fires their triggers, the
router's poller does (``router/polling/``, with the specs of ``subscriptions/polling/``). Trigger names are the
platform's, verbatim (``platform-triggers.json``, mode "polling"); the values are the event types a poll stores,
``<object>.<change>`` (``record.created``), plus, for integrations that also send webhooks the router verifies
(Jira, QuickBooks, Notion), the event types those webhooks carry, so either source fires the trigger.

Integration types accepted without a verifier (``known_type``): every polled type below, the API-only types of
``API_ONLY`` (the platform calls their API; no trigger), and ``custom.<name>`` (a custom integration: its API
through its own ``api_base_url``, triggers through custom webhooks or ``event:<type>``).
"""

from __future__ import annotations

import re
from typing import Final

import verifiers

POLLED: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    # Outlook, Teams and SharePoint are polled by the platform; where the router holds a Graph subscription for
    # them instead, its notifications carry Graph's changeType ("created", "updated"), which fires them too.
    "dropbox": {
        "File Created": ("file.created",),
        "File Deleted": ("file.deleted",),
        "File Updated": ("file.updated",),
    },
    "google-calendar": {
        "New Event": ("event.created",),
        "Event Updated": ("event.updated",),
        "Event Cancelled": ("event.cancelled",),
        "Event Started": ("event.started",),
        "Event Ended": ("event.ended",),
    },
    "google-drive": {
        "File Created": ("file.created",),
        "File Updated": ("file.updated",),
        "File Deleted": ("file.deleted",),
    },
    # A spreadsheet's new rows are an update of its file.
    "google-sheets": {
        "File Created": ("file.created",),
        "File Updated": ("file.updated", "row.created"),
    },
    # Jira webhooks name their events jira:issue_created, comment_created, project_created, ...
    "jira": {
        "New Issue": ("issue.created", "jira:issue_created"),
        "Issue Updated": ("issue.updated", "jira:issue_updated"),
        "New Comment": ("comment.created", "comment_created"),
        "Project Created": ("project.created", "project_created"),
        "Project Updated": ("project.updated", "project_updated"),
    },
    "lever": {
        "Candidate Created": ("candidate.created",),
        "Candidate Updated": ("candidate.updated",),
        "Posting Created": ("posting.created",),
        "Posting Updated": ("posting.updated",),
    },
    "marketo": {"Lead Added to a List": ("list_membership.created",)},
    "microsoft-dynamics-365": {},  # polled, but the platform names no trigger: '*' or 'event:<type>'
    "outlook": {
        "Event Created": ("event.created", "created"),
        "Event Updated": ("event.updated", "updated"),
        "New Message": ("message.created", "created"),
    },
    "microsoft-teams": {
        "Channel Created": ("channel.created", "created"),
        "Chat Created": ("chat.created", "created"),
        "Chat Updated": ("chat.updated", "updated"),
    },
    # Notion webhooks: page.created, page.content_updated, page.properties_updated.
    "notion": {
        "Page Created": ("page.created",),
        "Page Updated": ("page.updated", "page.content_updated", "page.properties_updated"),
    },
    "outreach": {
        "New Account": ("account.created",),
        "Account Updated": ("account.updated",),
        "New Opportunity": ("opportunity.created",),
        "Opportunity Updated": ("opportunity.updated",),
        "New Prospect": ("prospect.created",),
        "Prospect Updated": ("prospect.updated",),
    },
    "pardot": {
        "Prospect Created": ("prospect.created",),
        "List Membership Created": ("list_membership.created",),
    },
    # QuickBooks webhooks: <Entity>.<Operation> (Customer.Create).
    "quickbooks": {
        "New Account": ("account.created", "Account.Create"),
        "New Customer": ("customer.created", "Customer.Create"),
        "New Invoice": ("invoice.created", "Invoice.Create"),
    },
    "sage-intacct": {},  # polled, no trigger named by the platform
    "salesforce": {
        "New Record": ("record.created",),
        "Record Updated": ("record.updated",),
        "Campaign Member Added": ("campaign_member.created",),
        "Campaign Opportunity Added": ("campaign_opportunity.created",),
    },
    "sharepoint": {
        "Item Created": ("item.created", "updated"),
        "Item Updated": ("item.updated", "updated"),
        "Page Modified": ("page.updated",),
        "File Deleted": ("file.deleted",),
    },
    "xero": {
        "New Account": ("account.created",),
        "New Customer": ("customer.created",),
        "New Invoice": ("invoice.created",),
    },
    "zohocrm": {
        "New Record": ("record.created",),
        "Record Updated": ("record.updated",),
    },
}

# Triggers a Graph notification cannot tell apart (one changeType for messages and events, say).
POLLED_COARSE: Final[dict[str, frozenset[str]]] = {
    "outlook": frozenset({"Event Created", "New Message"}),
    "microsoft-teams": frozenset({"Channel Created", "Chat Created"}),
    "sharepoint": frozenset({"Item Created", "Item Updated"}),
}

# Integrations of the platform the router only calls (through their API base URL): no webhook, no polled trigger.
API_ONLY: Final[frozenset[str]] = frozenset(
    {"bigquery", "google-ads", "google-analytics", "linkedin", "mailgun", "netsuite", "snowflake", "workday"}
)

CUSTOM_TYPE = re.compile(r"custom\.[a-z0-9][a-z0-9_-]{0,62}")


def known_type(value: str) -> bool:
    """Whether ``value`` names an integration type: a verifier's, a polled one, an API-only one or a custom one."""
    return (
        value in verifiers.providers()
        or value in POLLED
        or value in API_ONLY
        or CUSTOM_TYPE.fullmatch(value) is not None
    )


def known_types() -> list[str]:
    """Every named integration type (``custom.<name>`` aside), for error messages."""
    return sorted({*verifiers.providers(), *POLLED, *API_ONLY})
