"""Dynamics 365 Business Central API webhooks.

Docs: https://learn.microsoft.com/en-us/dynamics365/business-central/dev-itpro/api-reference/v2.0/dynamics-subscriptions

Business Central follows the Microsoft REST API guidelines for webhooks, like Graph, and signs nothing:
each item of ``value[]`` carries the ``clientState`` given when the subscription was created or renewed
(optional on Business Central's side, required here: configure it as the integration's secret). Every
item's clientState must equal an active secret (constant-time). Creating *and* renewing (PATCH, every
3 days) a subscription sends ``?validationToken=`` to the notification URL; we answer 200 ``text/plain``
with the decoded token, as for Graph.

Notification items: ``subscriptionId``, ``clientState``, ``expirationDateTime``, ``resource``
(``api/v2.0/companies(<company id>)/customers(<id>)``), ``changeType`` (``created``, ``updated``,
``deleted``, or ``collection`` when over 1,000 records changed) and ``lastModifiedDateTime``. There
is no tenant id in the payload: the tenant is the company id in ``resource`` (falling back to the
``subscriptionId``). Business Central sends no notification id.
"""

from __future__ import annotations

import re

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, first, loads
from verifiers._query_and_batches import event_json
from verifiers.microsoft_graph import handshake, notifications, sign, verify

_COMPANY = re.compile(r"companies\(([^)]{1,64})\)", re.IGNORECASE)


def _company(resource: str) -> str:
    match = _COMPANY.search(resource)
    return match.group(1).strip("'\"") if match else ""


def extract(request: Request) -> list[EventInfo]:
    return [
        EventInfo(
            first(_company(dig(item, "resource")), dig(item, "subscriptionId")),
            dig(item, "changeType"),
            "",
            event_json(item),
        )
        for item in notifications(loads(request.body))
        if isinstance(item, dict)
    ]


PROVIDER = register(Provider("dynamicsbusinesscentral", verify, handshake, extract, sign=sign))
