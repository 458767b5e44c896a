"""Zendesk webhooks.

Docs: https://developer.zendesk.com/documentation/webhooks/verifying/

Signed string: ``X-Zendesk-Webhook-Signature-Timestamp + raw_body`` (no separator; the body may be empty
for GET/DELETE webhooks), HMAC-SHA256 keyed with the webhook's signing secret used literally as UTF-8,
base64 in ``X-Zendesk-Webhook-Signature``. The timestamp is ISO-8601 (``2021-07-29T18:36:39Z``); an
integer in unix seconds is accepted too. Zendesk documents no window: we reject timestamps more than
300 s away from now, in either direction. Deliveries sent from the webhook builder before the webhook
exists are signed with Zendesk's static test secret ``dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==``
(literal, not base64-decoded); add it as a secret only while testing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, loads
from verifiers._hmac import check_window, hmac_b64, parse_timestamp, require_any
from verifiers.errors import MalformedHeader

TOLERANCE_S = 300
TIMESTAMP = "x-zendesk-webhook-signature-timestamp"


def _timestamp(raw: str) -> float:
    text = raw.strip()
    if text.isascii() and text.isdigit():
        return parse_timestamp(text)
    try:
        if not text.isascii():
            raise ValueError(text)
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:  # Zendesk stamps UTC; a naive value must not take the server's zone
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    except (ValueError, OverflowError):
        raise MalformedHeader("timestamp is neither ISO-8601 nor unix seconds", header=TIMESTAMP) from None


def verify(request: Request) -> None:
    sig = request.require_header("x-zendesk-webhook-signature")
    raw_ts = request.require_header(TIMESTAMP)
    secrets = request.require_secrets()
    check_window(_timestamp(raw_ts), now=request.now, tolerance_s=TOLERANCE_S)
    message = raw_ts.encode("utf-8", "replace") + request.body
    require_any((hmac_b64(s.encode(), message) for s in secrets), [sig.strip()], scheme="zendesk")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    # Event subscriptions (zen:event-type:*) carry account_id; trigger webhooks carry whatever the
    # operator templated, so the account header is the fallback.
    tenant = first(dig(data, "account_id"), request.header("x-zendesk-account-id") or "")
    delivery = first(dig(data, "id"), request.header("x-zendesk-webhook-invocation-id") or "")
    return [EventInfo(tenant, dig(data, "type"), delivery)]


def sign(s: SignInput) -> Signed:
    ts = s.given(TIMESTAMP, datetime.fromtimestamp(int(s.now), UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return s.signed({"x-zendesk-webhook-signature": hmac_b64(s.secret.encode(), ts.encode() + s.body), TIMESTAMP: ts})


PROVIDER = register(Provider("zendesk", verify, extract=extract, sign=sign))
