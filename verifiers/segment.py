"""Segment Webhooks destination (classic and Actions), signed with a shared secret.

Docs: https://segment.com/docs/connections/destinations/catalog/webhooks/

Signed string: the raw body, HMAC-SHA1 with the shared secret, lowercase hex in ``X-Signature``.
There is no timestamp; replays are stopped by deduplicating ``messageId``.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, loads
from verifiers._hmac import hmac_hex, require_any


def verify(request: Request) -> None:
    sig = request.require_header("x-signature")
    secrets = request.require_secrets()
    require_any(
        (hmac_hex(s.encode(), request.body, "sha1") for s in secrets), [sig.strip().lower()], scheme="segment-sha1"
    )


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    # Spec events carry no workspace id (route by URL); some carry projectId. A track call's own name
    # ("Order Completed") is what a trigger matches, the other calls are known by their type.
    return [EventInfo(dig(data, "projectId"), first(dig(data, "event"), dig(data, "type")), dig(data, "messageId"))]


def sign(s: SignInput) -> Signed:
    return s.signed({"x-signature": hmac_hex(s.secret.encode(), s.body, "sha1")})


PROVIDER = register(Provider("segment", verify, extract=extract, sign=sign))
