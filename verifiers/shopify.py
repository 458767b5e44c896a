"""Shopify webhooks.

Docs: https://shopify.dev/docs/apps/build/webhooks/subscribe/https

Signed string: the raw body, HMAC-SHA256 keyed with the app's client secret (API secret key), base64 in
``X-Shopify-Hmac-Sha256``. Newer deliveries may carry the same headers without the ``X-`` prefix
(``shopify-hmac-sha256``, ``shopify-topic``, ...); both spellings are read. No timestamp is signed:
replays are stopped by deduplicating ``X-Shopify-Webhook-Id``. The mandatory compliance topics
(``customers/data_request``, ``customers/redact``, ``shop/redact``) must be answered 401 on a bad HMAC,
which the router's VerificationError → 401 mapping already does.
"""

from __future__ import annotations

import base64

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._hmac import b64decode_strict, hmac_digest, require_any
from verifiers.errors import MissingHeader

SIGNATURE_HEADER = "x-shopify-hmac-sha256"


def _header(request: Request, name: str) -> str:
    return request.header("x-shopify-" + name) or request.header("shopify-" + name) or ""


def verify(request: Request) -> None:
    sig = _header(request, "hmac-sha256")
    if not sig:
        raise MissingHeader(
            f"{SIGNATURE_HEADER} is required", header=SIGNATURE_HEADER, headers_seen=sorted(request.headers)
        )
    secrets = request.require_secrets()
    # Compare digests, not base64 text: Shopify's own SDKs decode the header first, so padding or a
    # trailing newline (Ruby's Base64.encode64) must not matter.
    received = b64decode_strict(sig)
    require_any((hmac_digest(s.encode(), request.body) for s in secrets), [received], scheme="shopify-sha256")


def extract(request: Request) -> list[EventInfo]:
    return [EventInfo(_header(request, "shop-domain"), _header(request, "topic"), _header(request, "webhook-id"))]


def sign(s: SignInput) -> Signed:
    return s.signed({SIGNATURE_HEADER: base64.b64encode(hmac_digest(s.secret.encode(), s.body)).decode()})


PROVIDER = register(Provider("shopify", verify, extract=extract, sign=sign))
