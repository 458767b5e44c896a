"""Typeform webhooks.

Docs: https://www.typeform.com/developers/webhooks/secure-your-webhooks/

Signed string: the raw body, HMAC-SHA256 with the webhook's secret, **base64** (not hex) after a
``sha256=`` prefix in ``Typeform-Signature``. There is no timestamp; replays are stopped by
deduplicating ``event_id``.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, loads
from verifiers._hmac import hmac_b64, require_any


def verify(request: Request) -> None:
    sig = request.require_header("typeform-signature")
    secrets = request.require_secrets()
    require_any(
        ("sha256=" + hmac_b64(s.encode(), request.body) for s in secrets), [sig.strip()], scheme="typeform-sha256"
    )


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    # Webhooks are configured per form, so the form is the tenant.
    return [EventInfo(dig(data, "form_response", "form_id"), dig(data, "event_type"), dig(data, "event_id"))]


def sign(s: SignInput) -> Signed:
    return s.signed({"typeform-signature": "sha256=" + hmac_b64(s.secret.encode(), s.body)})


PROVIDER = register(Provider("typeform", verify, extract=extract, sign=sign))
