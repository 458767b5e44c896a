"""Mollie webhooks (the Webhooks API's signed event deliveries).

Docs: https://docs.mollie.com/reference/webhooks-new#signature-verification

Signed string: the raw body, HMAC-SHA256 keyed with the webhook's signing secret, lowercase hex in
``X-Mollie-Signature``, normally as ``sha256=<hex>``; Mollie's PHP SDK (``src/Webhooks/SignatureValidator.php``)
also takes the bare hex, and reads every value of the header: while a secret rotates Mollie sends one per secret,
which arrive here joined by commas. Any of them may match. No timestamp is signed; dedupe on the event ``id``.
Event type ``type`` (``payment-link.paid``); the payload names no organization, so the tenant comes from the
URL. Classic webhooks (a form body ``id=tr_...``, unsigned) are not accepted: they carry no proof of origin.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, loads
from verifiers._families import body_hmac
from verifiers._hmac import hmac_hex, require_any

HEADER, PREFIX = "x-mollie-signature", "sha256="
_, sign = body_hmac(HEADER, scheme="mollie", prefix=PREFIX)


def verify(request: Request) -> None:
    received = [value.strip().lower().removeprefix(PREFIX) for value in request.require_header(HEADER).split(",")]
    secrets = request.require_secrets()
    require_any((hmac_hex(s.encode(), request.body) for s in secrets), received, scheme="mollie")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    return [EventInfo("", dig(data, "type"), dig(data, "id"))]


PROVIDER = register(Provider("mollie", verify, extract=extract, sign=sign))
