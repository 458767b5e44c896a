"""Egress checks when a URL is saved: the admin API's destination PUT and ``hookrouter apply``.

Only what can be decided without DNS is checked here: a host that is a refused address literal or an odd
spelling of one. Names are checked when the router connects (``router.egress.transport``), since what a
name resolves to may change after it is saved. Messages name the record and field, never the URL: a Slack
incoming-webhook URL is itself a credential.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from pydantic import BaseModel

from router.egress.policy import AddressRefused, EgressPolicy
from subscriptions.custom import ApiResource
from subscriptions.destinations import Destination
from subscriptions.models import HttpTarget, Workflow

__all__ = ["destination_refusals", "record_refusals", "refused"]

_WHY = "its host is an address the egress policy refuses (see HOOKROUTER_EGRESS_ALLOW)"


def refused(url: str, policy: EgressPolicy) -> bool:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False  # malformed: the record's own validation says so
    if not host:
        return False
    try:
        policy.check_host(host)
    except AddressRefused:
        return True
    return False


def destination_refusals(destination: Destination, policy: EgressPolicy) -> list[str]:
    urls = {"url": destination.url.get_secret_value() if destination.url else None}
    urls["options.base_url"] = destination.options.get("base_url")
    return [f"{field}: {_WHY}" for field, url in urls.items() if url and refused(url, policy)]


def record_refusals(records: Iterable[BaseModel], policy: EgressPolicy) -> list[str]:
    """One line per refused URL in a config file's records, as ``hookrouter apply`` prints them."""
    problems: list[str] = []
    for record in records:
        if isinstance(record, Destination):
            problems += [f"destination {record.id!r}: {p}" for p in destination_refusals(record, policy)]
        elif isinstance(record, Workflow) and isinstance(record.target, HttpTarget):
            if refused(record.target.url.get_secret_value(), policy):
                problems.append(f"workflow {record.id!r}: target.url: {_WHY}")
        elif isinstance(record, ApiResource) and record.base_url and refused(record.base_url, policy):
            problems.append(f"api_resource {record.id!r}: base_url: {_WHY}")
    return problems
