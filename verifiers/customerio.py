"""Customer.io reporting webhooks.

Docs: https://docs.customer.io/journeys/webhooks/#securely-verify-requests

Signed string: ``"v0:" + X-CIO-Timestamp + ":" + raw_body``, HMAC-SHA256 keyed with the webhook's signing
key, lowercase hex in ``X-CIO-Signature`` (no prefix). The timestamp is unix seconds; we reject it more
than 300 s from now in either direction. Event type ``<object_type>.<metric>`` (``email.delivered``);
delivery id ``event_id``; tenant: the workspace the webhook belongs to (route by URL).
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, loads
from verifiers._hmac import check_timestamp, hmac_hex, require_any

TOLERANCE_S = 300


def verify(request: Request) -> None:
    timestamp, signature = request.require_header("x-cio-timestamp"), request.require_header("x-cio-signature")
    secrets = request.require_secrets()
    check_timestamp(timestamp, now=request.now, tolerance_s=TOLERANCE_S)
    message = b"v0:" + timestamp.strip().encode() + b":" + request.body
    require_any((hmac_hex(s.encode(), message) for s in secrets), [signature.strip().lower()], scheme="customerio")


def sign(s: SignInput) -> Signed:
    ts = str(int(s.now))
    signature = hmac_hex(s.secret.encode(), b"v0:" + ts.encode() + b":" + s.body)
    return s.signed({"x-cio-timestamp": ts, "x-cio-signature": signature})


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    kind, metric = dig(data, "object_type"), dig(data, "metric")
    return [EventInfo("", f"{kind}.{metric}" if kind and metric else metric, dig(data, "event_id"))]


PROVIDER = register(Provider("customerio", verify, extract=extract, sign=sign))
