"""Salesloft webhooks.

Docs: https://developers.salesloft.com/docs/platform/webhooks/delivery-headers/

Signed string: the raw body, HMAC-**SHA1** keyed with the subscription's ``callback_token``, hex in
``x-salesloft-signature``; ``x-salesloft-event`` names the event type. No timestamp is signed and there is
no delivery id. The payload is the resource itself and names no team, so the tenant comes from the URL.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._hmac import hmac_hex, require_any


def verify(request: Request) -> None:
    sig = request.require_header("x-salesloft-signature")
    secrets = request.require_secrets()
    expected = (hmac_hex(s.encode(), request.body, "sha1") for s in secrets)
    require_any(expected, [sig.strip().lower()], scheme="salesloft-sha1")


def extract(request: Request) -> list[EventInfo]:
    return [EventInfo("", request.header("x-salesloft-event") or "", "")]


def sign(s: SignInput) -> Signed:
    return s.signed({"x-salesloft-signature": hmac_hex(s.secret.encode(), s.body, "sha1")})


PROVIDER = register(Provider("salesloft", verify, extract=extract, sign=sign))
