"""Sentry integration-platform webhooks (internal and public integrations).

Docs: https://docs.sentry.io/organization/integrations/integration-platform/webhooks/#sentry-hook-signature

Signed string: the raw body, HMAC-SHA256 keyed with the integration's client secret, lowercase hex in
``Sentry-Hook-Signature``. ``Sentry-Hook-Timestamp`` is sent but not signed, so it is not trusted; dedupe
on ``Sentry-Hook-Request-Id``. Event type: ``Sentry-Hook-Resource`` + ``.`` + the body's ``action``
(``issue.created``); tenant: ``installation.uuid``.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, loads
from verifiers._families import body_hmac

verify, sign = body_hmac("sentry-hook-signature", scheme="sentry")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    resource, action = request.header("sentry-hook-resource") or "", dig(data, "action")
    event_type = f"{resource}.{action}" if resource and action else resource or action
    return [EventInfo(dig(data, "installation", "uuid"), event_type, request.header("sentry-hook-request-id") or "")]


PROVIDER = register(Provider("sentry", verify, extract=extract, sign=sign))
