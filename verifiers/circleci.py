"""CircleCI outbound webhooks.

Docs: https://circleci.com/docs/webhooks/#validate-webhooks

Signed string: the raw body, HMAC-SHA256 keyed with the webhook's secret, lowercase hex as ``v1=<hex>`` in
``circleci-signature`` (the header may list several ``scheme=value`` pairs, comma-separated; only ``v1``
counts). No timestamp is signed; dedupe on the event ``id``. Tenant: ``organization.id``; event type:
``type`` (``workflow-completed``, ``job-completed``).
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, loads
from verifiers._families import v1_list_hmac

verify, sign = v1_list_hmac("circleci-signature", scheme="circleci-v1")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    return [EventInfo(dig(data, "organization", "id"), dig(data, "type"), dig(data, "id"))]


PROVIDER = register(Provider("circleci", verify, extract=extract, sign=sign))
