"""Xero webhooks.

Docs: https://developer.xero.com/documentation/guides/webhooks/configuring-your-server/

Signed string: the raw body, HMAC-SHA256 keyed with the app's webhook key, base64 in
``x-xero-signature``. No timestamp.

Intent to Receive: before a webhook goes live Xero sends payloads with an empty ``events`` list,
some correctly and some deliberately wrongly signed, and expects 200 for the valid ones and 401 for
the rest, with an empty body, within 5 s. ``handshake`` therefore verifies: a valid one returns 200,
an invalid one raises ``VerificationError``, which the router answers with 401.

Tenant: ``events[].tenantId``; one EventInfo per event with ``body`` that event's JSON, event type
``<eventCategory>.<eventType>`` (``INVOICE.UPDATE``). Xero events carry no event id.
"""

from __future__ import annotations

from verifiers._core import EventInfo, HandshakeReply, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, handshake_json, loads
from verifiers._hmac import hmac_b64, require_any
from verifiers._query_and_batches import event_json


def verify(request: Request) -> None:
    sig = request.require_header("x-xero-signature")
    secrets = request.require_secrets()
    require_any((hmac_b64(s.encode(), request.body) for s in secrets), [sig.strip()], scheme="xero")


def handshake(request: Request) -> HandshakeReply | None:
    data = handshake_json(request.body, b'"events"')
    if not isinstance(data, dict) or data.get("events") != []:
        return None
    verify(request)
    return HandshakeReply(200)


def _event_type(event: object) -> str:
    category, kind = dig(event, "eventCategory"), dig(event, "eventType")
    return f"{category}.{kind}" if category and kind else category or kind


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    events = data.get("events") if isinstance(data, dict) else None
    if not isinstance(events, list):
        return []
    return [EventInfo(dig(e, "tenantId"), _event_type(e), "", event_json(e)) for e in events if isinstance(e, dict)]


def sign(s: SignInput) -> Signed:
    return s.signed({"x-xero-signature": hmac_b64(s.secret.encode(), s.body)})


PROVIDER = register(Provider("xero", verify, handshake, extract, empty_responses=True, sign=sign))
