"""Notion webhooks (integration webhook subscriptions).

Docs: https://developers.notion.com/reference/webhooks

Signed string: the raw body, HMAC-SHA256 keyed with the subscription's ``verification_token``,
lowercase hex with the ``sha256=`` prefix in ``X-Notion-Signature``. No timestamp is signed; dedupe on
the event ``id`` (the payload's ``attempt_number`` grows on retries).

Handshake: once a subscription is created, Notion POSTs ``{"verification_token": "secret_..."}``, unsigned
(there is no key yet). We answer 200 and return the token in ``persist["verification_token"]``; the
operator pastes the same token into Notion to activate the subscription, and it becomes the signing key.
Because that POST is unauthenticated, anyone who knows the URL can send one: the router must treat a
persisted token as pending until the operator confirms it, never silently replace an active secret.
"""

from __future__ import annotations

from verifiers._core import EventInfo, HandshakeReply, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, handshake_json, loads
from verifiers._hmac import hmac_hex, require_any
from verifiers.errors import MalformedBody

MAX_TOKEN_CHARS = 512


def verify(request: Request) -> None:
    sig = request.require_header("x-notion-signature")
    secrets = request.require_secrets()
    expected = ("sha256=" + hmac_hex(s.encode(), request.body) for s in secrets)
    require_any(expected, [sig.strip()], scheme="notion-sha256")


def handshake(request: Request) -> HandshakeReply | None:
    data = handshake_json(request.body, b'"verification_token"')
    if request.method != "POST" or not isinstance(data, dict) or "verification_token" not in data:
        return None
    token = data["verification_token"]
    # The token becomes a signing key: refuse anything that is not a short printable string.
    if not isinstance(token, str) or not token.isascii() or not token.isprintable():
        raise MalformedBody("verification_token is not a printable ASCII string")
    if not 0 < len(token) <= MAX_TOKEN_CHARS:
        raise MalformedBody("verification_token is empty or too long")
    return HandshakeReply(200, {"content-type": "application/json"}, b"{}", {"verification_token": token})


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    tenant = first(dig(data, "workspace_id"), dig(data, "integration_id"))
    return [EventInfo(tenant, dig(data, "type"), dig(data, "id"))]


def sign(s: SignInput) -> Signed:
    return s.signed({"x-notion-signature": "sha256=" + hmac_hex(s.secret.encode(), s.body)})


PROVIDER = register(Provider("notion", verify, handshake, extract, sign=sign))
