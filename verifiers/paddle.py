"""Paddle Billing webhooks.

Docs: https://developer.paddle.com/webhooks/signature-verification

Signed string: ``ts + ":" + raw_body`` where ``Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>...]``.
HMAC-SHA256 keyed with the notification destination's secret key (``pdl_ntfset_...``) used literally,
lowercase hex. Any ``h1`` entry may match (several appear while a rotated secret overlaps). Paddle's
SDKs allow five seconds between ``ts`` and now; we apply the same five seconds in both directions.
Paddle Classic (``p_signature`` in a form body, RSA) is a different scheme and is not accepted here.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, loads
from verifiers._hmac import check_timestamp, hmac_hex, require_any
from verifiers.errors import MalformedHeader, UnsupportedVersion

TOLERANCE_S = 5


def _parse(header: str) -> tuple[str, list[str]]:
    timestamp = ""
    h1: list[str] = []
    for item in header.split(";"):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "ts":
            timestamp = value
        elif key == "h1":
            h1.append(value.strip().lower())
    if not timestamp:
        raise MalformedHeader("Paddle-Signature has no ts= entry", header="paddle-signature")
    if not h1:
        raise UnsupportedVersion("Paddle-Signature has no h1 signature", header="paddle-signature")
    return timestamp, h1


def verify(request: Request) -> None:
    timestamp, signatures = _parse(request.require_header("paddle-signature"))
    secrets = request.require_secrets()
    check_timestamp(timestamp, now=request.now, tolerance_s=TOLERANCE_S)
    message = timestamp.strip().encode() + b":" + request.body
    require_any((hmac_hex(s.encode(), message) for s in secrets), signatures, scheme="paddle-h1")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    # Notification destinations belong to one Paddle account: the tenant is the URL, not the payload.
    return [EventInfo("", dig(data, "event_type"), first(dig(data, "event_id"), dig(data, "notification_id")))]


def sign(s: SignInput) -> Signed:
    ts = str(int(s.now))
    return s.signed({"paddle-signature": f"ts={ts};h1={hmac_hex(s.secret.encode(), ts.encode() + b':' + s.body)}"})


PROVIDER = register(Provider("paddle", verify, extract=extract, sign=sign))
