"""Stripe webhook signatures.

Docs: https://docs.stripe.com/webhooks#verify-events

Signed string: ``t + "." + raw_body`` where ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]``.
HMAC-SHA256 keyed with the endpoint secret used literally as UTF-8, ``whsec_`` prefix included (not
base64-decoded, unlike Standard Webhooks). Any ``v1`` entry may match (several appear while a rolled
secret overlaps); a header with only legacy ``v0`` entries is rejected. Stripe's SDKs check only the
age; we also reject timestamps more than 300 s in the future.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, loads
from verifiers._hmac import check_timestamp, hmac_hex, require_any
from verifiers.errors import MalformedHeader, UnsupportedVersion

TOLERANCE_S = 300


def _parse(header: str) -> tuple[str, list[str]]:
    timestamp = ""
    v1: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            timestamp = value
        elif key == "v1":
            v1.append(value)
    if not timestamp:
        raise MalformedHeader("Stripe-Signature has no t= entry", header="stripe-signature")
    if not v1:
        raise UnsupportedVersion("Stripe-Signature has no v1 signature", header="stripe-signature")
    return timestamp, v1


def verify(request: Request) -> None:
    timestamp, signatures = _parse(request.require_header("stripe-signature"))
    secrets = request.require_secrets()
    check_timestamp(timestamp, now=request.now, tolerance_s=TOLERANCE_S)
    message = timestamp.encode() + b"." + request.body
    require_any((hmac_hex(s.encode(), message) for s in secrets), signatures, scheme="stripe-v1")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    # Thin (v2) events and organization-level endpoints name the account in "context", not "account".
    tenant = first(dig(data, "account"), dig(data, "context"))
    return [EventInfo(tenant, dig(data, "type"), dig(data, "id"))]


def sign(s: SignInput) -> Signed:
    ts = str(int(s.now))
    return s.signed({"stripe-signature": f"t={ts},v1={hmac_hex(s.secret.encode(), ts.encode() + b'.' + s.body)}"})


PROVIDER = register(Provider("stripe", verify, extract=extract, sign=sign))
