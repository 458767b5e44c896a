"""Miro board webhooks (experimental board subscriptions).

Docs: https://developers.miro.com/reference/webhooks-overview (the challenge) and
https://developers.miro.com/reference/create-board-subscription (``callbackUrl``, per user and board)

Miro signs nothing. Its one documented exchange is the handshake: after a subscription is created it POSTs
``{"challenge": "<uuid>"}`` to the ``callbackUrl`` and expects a 200 with the same challenge back, as JSON
(``content-type: application/json``). Authenticate with a secret carried in that URL, as for Mailchimp: register
``callbackUrl`` with ``?secret=<value>`` and configure the same value as the integration's secret; every value
of ``?secret=`` is compared in constant time. The challenge is answered only for a URL carrying the secret, so
a guessed URL confirms nothing. No timestamp.

Extraction: the board (``event.boardId``) is the tenant, since subscriptions are per board; the event type is
``event.type`` (``create``, ``update``, ``delete``); Miro documents no delivery id.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from verifiers._core import EventInfo, HandshakeReply, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, handshake_json, loads
from verifiers._hmac import require_any
from verifiers._query_and_batches import query_values
from verifiers.errors import MalformedBody, MissingHeader


def verify(request: Request) -> None:
    received = query_values(request.url, "secret")
    if not received:
        raise MissingHeader("the webhook URL carries no ?secret= parameter", header="?secret")
    require_any(request.require_secrets(), received, scheme="miro-url-secret")


def handshake(request: Request) -> HandshakeReply | None:
    data = handshake_json(request.body, b'"challenge"')
    if not isinstance(data, dict) or "challenge" not in data:
        return None
    challenge = data["challenge"]
    if not isinstance(challenge, str):
        raise MalformedBody("challenge is not a string")
    verify(request)  # the challenge arrives at the callbackUrl, secret included: don't confirm a guessed URL
    return HandshakeReply(200, {"content-type": "application/json"}, json.dumps({"challenge": challenge}).encode())


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    return [EventInfo(dig(data, "event", "boardId"), dig(data, "event", "type"), "")]


def sign(s: SignInput) -> Signed:
    """The secret rides in the URL: ``?secret=`` is added unless the URL already carries it."""
    if s.secret in query_values(s.url, "secret"):
        return s.signed({})
    joiner = "&" if "?" in s.url else "?"
    return Signed({}, s.body, f"{s.url}{joiner}{urlencode({'secret': s.secret})}")


PROVIDER = register(Provider("miro", verify, handshake, extract, sign=sign))
