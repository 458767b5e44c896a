"""Okta event hooks.

Docs: https://developer.okta.com/docs/concepts/event-hooks/ and
https://developer.okta.com/docs/guides/event-hook-implementation/nodejs/main/

Okta signs nothing: an event hook sends the header named in its "Authentication field" with the value of its
"Authentication secret". Name that field ``Authorization`` (the name Okta's guides use; it is the one header read
here) and configure the same value as the secret; it is compared in constant time with every active secret.

Handshake: the one-time verification is a ``GET`` with ``X-Okta-Verification-Challenge``; it carries the
same authorization header, which is checked first, and is answered ``{"verification": <challenge>}``.

Events: ``{"eventType": "com.okta.event_hook", "eventId", "data": {"events": [...]}}``, one EventInfo per
item of ``data.events``: event type ``eventType`` (``user.lifecycle.create``), delivery id ``uuid``; the
org is the hook's owner (route by URL).
"""

from __future__ import annotations

import json

from verifiers._core import EventInfo, HandshakeReply, Provider, Request, register
from verifiers._extract import dig, loads
from verifiers._families import header_token
from verifiers._query_and_batches import event_json
from verifiers.errors import MalformedHeader

verify, sign = header_token("authorization")
CHALLENGE = "x-okta-verification-challenge"


def handshake(request: Request) -> HandshakeReply | None:
    challenge = request.header(CHALLENGE)
    if request.method != "GET" or challenge is None:
        return None
    verify(request)
    if len(challenge) > 256:
        raise MalformedHeader("the verification challenge is too long", header=CHALLENGE)
    return HandshakeReply(200, {"content-type": "application/json"}, json.dumps({"verification": challenge}).encode())


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    events = (
        data.get("data", {}).get("events") if isinstance(data, dict) and isinstance(data.get("data"), dict) else None
    )
    if not isinstance(events, list):
        return []
    return [EventInfo("", dig(e, "eventType"), dig(e, "uuid"), event_json(e)) for e in events if isinstance(e, dict)]


PROVIDER = register(Provider("okta", verify, handshake, extract, sign=sign))
