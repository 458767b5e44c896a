"""ClickUp webhooks.

Docs: https://developer.clickup.com/docs/webhooksignature

Signed string: the raw body, HMAC-SHA256 keyed with the ``secret`` returned when the webhook was created,
bare hex in ``X-Signature``. No timestamp is signed and ClickUp sends no delivery id. Tenant: the body's
``webhook_id`` (the workspace is the one the webhook was created under).
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, loads
from verifiers._hmac import hmac_hex, require_any


def verify(request: Request) -> None:
    sig = request.require_header("x-signature")
    secrets = request.require_secrets()
    require_any((hmac_hex(s.encode(), request.body) for s in secrets), [sig.strip().lower()], scheme="clickup")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    return [EventInfo(dig(data, "webhook_id"), dig(data, "event"), "")]


def sign(s: SignInput) -> Signed:
    return s.signed({"x-signature": hmac_hex(s.secret.encode(), s.body)})


PROVIDER = register(Provider("clickup", verify, extract=extract, sign=sign))
