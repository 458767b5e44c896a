"""PagerDuty V3 webhooks.

Docs: https://developer.pagerduty.com/docs/28e906a0bc6d5-verifying-signatures

Signed string: the raw body, HMAC-SHA256 keyed with the subscription's signing secret, lowercase hex.
``X-PagerDuty-Signature`` lists ``v1=<hex>`` entries, comma-separated (several while a secret rotates);
any may match. No timestamp is signed; dedupe on ``event.id``. Event type ``event.event_type``
(``incident.triggered``); tenant: the subscription (``X-Webhook-Subscription``), as PagerDuty's payload
names no account.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, loads
from verifiers._families import v1_list_hmac

verify, sign = v1_list_hmac("x-pagerduty-signature", scheme="pagerduty-v1")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    tenant = request.header("x-webhook-subscription") or ""
    return [EventInfo(tenant, dig(data, "event", "event_type"), dig(data, "event", "id"))]


PROVIDER = register(Provider("pagerduty", verify, extract=extract, sign=sign))
