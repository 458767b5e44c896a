"""Square webhooks.

Docs: https://developer.squareup.com/docs/webhooks/step3validate

Signed string: the notification URL exactly as configured in the subscription, followed by the raw body
(``url + body``), HMAC-SHA256 keyed with the subscription's signature key, base64 in
``x-square-hmacsha256-signature``. The URL comes from the configured public URL (``MissingPublicUrl``
otherwise). No timestamp is signed; dedupe on ``event_id``. Tenant ``merchant_id``; event type ``type``
(``payment.updated``).
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, loads
from verifiers._hmac import b64decode_strict, hmac_b64, hmac_digest, require_any

HEADER = "x-square-hmacsha256-signature"


def verify(request: Request) -> None:
    received = b64decode_strict(request.require_header(HEADER))
    secrets = request.require_secrets()
    message = request.public_url().encode("utf-8", "replace") + request.body
    require_any((hmac_digest(s.encode(), message) for s in secrets), [received], scheme="square")


def sign(s: SignInput) -> Signed:
    return s.signed({HEADER: hmac_b64(s.secret.encode(), s.require_url().encode("utf-8", "replace") + s.body)})


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    return [EventInfo(dig(data, "merchant_id"), dig(data, "type"), dig(data, "event_id"))]


PROVIDER = register(Provider("square", verify, extract=extract, sign=sign, signs_url=True))
