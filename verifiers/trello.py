"""Trello webhooks.

Docs: https://developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/
("Webhook Signatures").

Signed string: ``raw_body + callbackURL``, where callbackURL is the URL exactly as given when the
webhook was created (``request.url``, the public URL including any query), UTF-8. HMAC-SHA1 keyed
with the application's OAuth secret, base64 in ``X-Trello-Webhook``. No timestamp; dedupe on
``action.id``. Trello checks a new callback URL with a HEAD request, answered 200 (unsigned).
"""

from __future__ import annotations

from verifiers._core import EventInfo, HandshakeReply, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, loads
from verifiers._hmac import hmac_b64, require_any


def verify(request: Request) -> None:
    sig = request.require_header("x-trello-webhook")
    secrets = request.require_secrets()
    message = request.body + request.public_url().encode("utf-8", "replace")
    require_any((hmac_b64(s.encode(), message, "sha1") for s in secrets), [sig.strip()], scheme="trello")


def handshake(request: Request) -> HandshakeReply | None:
    return HandshakeReply(200) if request.method == "HEAD" else None


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    tenant = first(dig(data, "model", "id"), dig(data, "action", "data", "board", "id"))
    return [EventInfo(tenant, dig(data, "action", "type"), dig(data, "action", "id"))]


def sign(s: SignInput) -> Signed:
    message = s.body + s.require_url().encode("utf-8", "replace")
    return s.signed({"x-trello-webhook": hmac_b64(s.secret.encode(), message, "sha1")})


PROVIDER = register(Provider("trello", verify, handshake, extract, signs_url=True, sign=sign))
