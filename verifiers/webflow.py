"""Webflow webhooks (Data API v2, webhooks created by an app or with a site token).

Docs: https://developers.webflow.com/data/docs/working-with-webhooks#validating-request-signatures

Signed string: ``x-webflow-timestamp + ":" + raw_body``, HMAC-SHA256 keyed with the app's client secret
(or the webhook's secret), lowercase hex in ``x-webflow-signature``. The timestamp is in **milliseconds**;
Webflow rejects requests older than 5 minutes, we reject them more than 300 s away in either direction.
Event type ``triggerType`` (``form_submission``); tenant ``payload.siteId``; Webflow names no delivery id.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, loads
from verifiers._hmac import check_timestamp, hmac_hex, require_any

TOLERANCE_S = 300


def verify(request: Request) -> None:
    timestamp = request.require_header("x-webflow-timestamp")
    signature = request.require_header("x-webflow-signature")
    secrets = request.require_secrets()
    check_timestamp(timestamp, now=request.now, tolerance_s=TOLERANCE_S, scale=1000)
    message = timestamp.strip().encode() + b":" + request.body
    require_any((hmac_hex(s.encode(), message) for s in secrets), [signature.strip().lower()], scheme="webflow")


def sign(s: SignInput) -> Signed:
    ts = str(int(s.now * 1000))
    return s.signed(
        {"x-webflow-timestamp": ts, "x-webflow-signature": hmac_hex(s.secret.encode(), ts.encode() + b":" + s.body)}
    )


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    tenant = first(dig(data, "payload", "siteId"), dig(data, "site"))
    return [EventInfo(tenant, dig(data, "triggerType"), "")]


PROVIDER = register(Provider("webflow", verify, extract=extract, sign=sign))
