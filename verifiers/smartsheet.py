"""Smartsheet webhooks.

Docs: https://developers.smartsheet.com/api/smartsheet/guides/webhooks/webhook-verification and
https://developers.smartsheet.com/api/smartsheet/guides/webhooks/webhook-callbacks (authenticating callbacks)

Signed string: the raw body, HMAC-SHA256 keyed with the webhook's ``sharedSecret``, lowercase hex in
``Smartsheet-Hmac-SHA256``. No timestamp; Smartsheet names no delivery id.

Handshake: when a webhook is enabled (and every 100 callbacks) Smartsheet POSTs
``{"challenge": "<uuid>", "webhookId": ...}`` with a ``Smartsheet-Hook-Challenge`` header, expecting 200 and
the value back in ``{"smartsheetHookResponse": ...}`` or a ``Smartsheet-Hook-Response`` header; we send
both. When the challenge carries a signature it is verified first; echoing the caller's own value discloses
nothing, so an unsigned one is answered too.

Callbacks: ``{"scopeObjectId": <sheet id>, "webhookId", "events": [{"objectType", "eventType", ...}]}``:
tenant ``scopeObjectId``; event type ``<objectType>.<eventType>`` of the first event (``row.created``).
"""

from __future__ import annotations

import json

from verifiers._core import EventInfo, HandshakeReply, Provider, Request, register
from verifiers._extract import dig, handshake_json, loads
from verifiers._families import body_hmac
from verifiers.errors import MalformedHeader

verify, sign = body_hmac("smartsheet-hmac-sha256", scheme="smartsheet")
MAX_CHALLENGE_CHARS = 256


def handshake(request: Request) -> HandshakeReply | None:
    challenge = request.header("smartsheet-hook-challenge")
    if challenge is None:
        data = handshake_json(request.body, b'"challenge"')
        challenge = dig(data, "challenge") if isinstance(data, dict) and "events" not in data else None
    if challenge is None:
        return None
    if not challenge or len(challenge) > MAX_CHALLENGE_CHARS or not (challenge.isascii() and challenge.isprintable()):
        raise MalformedHeader("the challenge is not a short printable token", header="smartsheet-hook-challenge")
    if request.header("smartsheet-hmac-sha256") is not None:
        verify(request)
    body = json.dumps({"smartsheetHookResponse": challenge}).encode()
    return HandshakeReply(200, {"content-type": "application/json", "smartsheet-hook-response": challenge}, body)


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    kind, action = dig(data, "events", 0, "objectType"), dig(data, "events", 0, "eventType")
    return [EventInfo(dig(data, "scopeObjectId"), f"{kind}.{action}" if kind and action else kind, "")]


PROVIDER = register(Provider("smartsheet", verify, handshake, extract, sign=sign))
