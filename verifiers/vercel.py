"""Vercel webhooks.

Docs: https://vercel.com/docs/webhooks/webhooks-api#securing-webhooks

Signed string: the raw body, HMAC-**SHA1** keyed with the webhook's secret (the integration's client
secret for integration webhooks), lowercase hex in ``x-vercel-signature``. No timestamp is signed; dedupe
on the event ``id``. Tenant: ``payload.team.id`` (or ``payload.user.id`` for a personal account); event
type ``type`` (``deployment.succeeded``).
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, first, loads
from verifiers._families import body_hmac

verify, sign = body_hmac("x-vercel-signature", scheme="vercel-sha1", algorithm="sha1")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    tenant = first(dig(data, "payload", "team", "id"), dig(data, "payload", "user", "id"))
    return [EventInfo(tenant, dig(data, "type"), dig(data, "id"))]


PROVIDER = register(Provider("vercel", verify, extract=extract, sign=sign))
