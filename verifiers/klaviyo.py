"""Klaviyo system webhooks.

Docs: https://developers.klaviyo.com/en/docs/working_with_system_webhooks ("HMAC signature verification")

Signed string: the raw body followed by the ``Klaviyo-Timestamp`` header value (no separator), HMAC-SHA256
keyed with the webhook's secret key, lowercase hex in ``Klaviyo-Signature``. The timestamp (unix seconds or
ISO 8601) must be within 300 s of now in either direction. ``Klaviyo-Webhook-Id`` is not signed, but the signed
body repeats it as ``meta.klaviyo_webhook_id``; Klaviyo says not to process a request where the two differ, so
such a request is refused after the signature check. Flow "Webhook" actions are not signed and are not
accepted here. The body is ``{"data": [{"topic", "external_id", "payload"}], "meta": {...}}``: one
EventInfo per item, event type ``topic`` (``event:klaviyo.email_delivered``), delivery id ``external_id``;
the account is the webhook's owner (route by URL).
"""

from __future__ import annotations

from datetime import UTC, datetime

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, loads
from verifiers._hmac import check_window, hmac_hex, parse_timestamp, require_any
from verifiers._query_and_batches import event_json
from verifiers.errors import MalformedHeader, SignatureMismatch

TOLERANCE_S = 300
SIGNATURE, TIMESTAMP, WEBHOOK_ID = "klaviyo-signature", "klaviyo-timestamp", "klaviyo-webhook-id"


def _instant(raw: str) -> float:
    text = raw.strip()
    if text.isascii() and text.isdigit():
        return parse_timestamp(text)
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00")) if text.isascii() else None
    except ValueError:
        stamp = None
    if stamp is None or stamp.tzinfo is None:
        raise MalformedHeader("klaviyo-timestamp is neither unix seconds nor ISO 8601 with an offset", header=TIMESTAMP)
    return stamp.timestamp()


def verify(request: Request) -> None:
    signature, timestamp = request.require_header(SIGNATURE), request.require_header(TIMESTAMP)
    secrets = request.require_secrets()
    check_window(_instant(timestamp), now=request.now, tolerance_s=TOLERANCE_S)
    message = request.body + timestamp.encode("utf-8", "replace")
    require_any((hmac_hex(s.encode(), message) for s in secrets), [signature.strip().lower()], scheme="klaviyo")
    header_id, signed_id = request.header(WEBHOOK_ID), dig(loads(request.body), "meta", "klaviyo_webhook_id")
    if header_id is not None and signed_id and header_id.strip() != signed_id:
        raise SignatureMismatch("klaviyo-webhook-id differs from the signed meta.klaviyo_webhook_id", scheme="klaviyo")


def sign(s: SignInput) -> Signed:
    timestamp = s.given(TIMESTAMP, datetime.fromtimestamp(int(s.now), UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return s.signed({TIMESTAMP: timestamp, SIGNATURE: hmac_hex(s.secret.encode(), s.body + timestamp.encode())})


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    return [
        EventInfo("", dig(item, "topic"), dig(item, "external_id"), event_json(item))
        for item in items
        if isinstance(item, dict)
    ]


PROVIDER = register(Provider("klaviyo", verify, extract=extract, sign=sign))
