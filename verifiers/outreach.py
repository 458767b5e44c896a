"""Outreach webhooks.

Docs: https://developers.outreach.io/api/webhooks/ (and the application lifecycle webhooks page,
https://developers.outreach.io/client-extensions/app-lifecycle-webhooks/, which states the scheme).

Signed string: the raw body, HMAC-SHA256 with the secret set on the webhook resource, lowercase hex in
``Outreach-Webhook-Signature``. There is no timestamp; ``Outreach-Webhook-ID`` is a UUID per request.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, loads
from verifiers._hmac import hmac_hex, require_any


def verify(request: Request) -> None:
    sig = request.require_header("outreach-webhook-signature")
    secrets = request.require_secrets()
    require_any((hmac_hex(s.encode(), request.body) for s in secrets), [sig.strip().lower()], scheme="outreach-sha256")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    # The tenant is the org whose OAuth token created the webhook: it is not in the payload, route by URL.
    return [EventInfo("", dig(data, "meta", "eventName"), request.header("outreach-webhook-id") or "")]


def sign(s: SignInput) -> Signed:
    return s.signed(
        {
            "outreach-webhook-signature": hmac_hex(s.secret.encode(), s.body),
            "outreach-webhook-id": s.given("outreach-webhook-id", s.delivery_id()),
        }
    )


PROVIDER = register(Provider("outreach", verify, extract=extract, sign=sign))
