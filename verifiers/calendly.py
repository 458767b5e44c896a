"""Calendly webhook signatures.

Docs: https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures

Signed string: ``t + "." + raw_body`` where ``Calendly-Webhook-Signature: t=<unix s>,v1=<hex>``.
HMAC-SHA256 keyed with the webhook signing key, lowercase hex. Any ``v1`` entry may match. Calendly's
example rejects timestamps older than 3 minutes; we reject them more than 180 s away in either direction.
Calendly sends no delivery id. Tenant: ``created_by``, the URI of the user who created the subscription.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, loads
from verifiers._hmac import check_timestamp, hmac_hex, require_any
from verifiers.errors import MalformedHeader, UnsupportedVersion

TOLERANCE_S = 180
HEADER = "calendly-webhook-signature"


def _parse(header: str) -> tuple[str, list[str]]:
    timestamp = ""
    v1: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep and key == "t":
            timestamp = value
        elif sep and key == "v1":
            v1.append(value.strip().lower())
    if not timestamp:
        raise MalformedHeader("Calendly-Webhook-Signature has no t= entry", header=HEADER)
    if not v1:
        raise UnsupportedVersion("Calendly-Webhook-Signature has no v1 signature", header=HEADER)
    return timestamp, v1


def verify(request: Request) -> None:
    timestamp, signatures = _parse(request.require_header(HEADER))
    secrets = request.require_secrets()
    check_timestamp(timestamp, now=request.now, tolerance_s=TOLERANCE_S)
    message = timestamp.encode() + b"." + request.body
    require_any((hmac_hex(s.encode(), message) for s in secrets), signatures, scheme="calendly-v1")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    return [EventInfo(dig(data, "created_by"), dig(data, "event"), "")]


def sign(s: SignInput) -> Signed:
    ts = str(int(s.now))
    return s.signed({HEADER: f"t={ts},v1={hmac_hex(s.secret.encode(), ts.encode() + b'.' + s.body)}"})


PROVIDER = register(Provider("calendly", verify, extract=extract, sign=sign))
