"""Front application webhooks.

Docs: https://dev.frontapp.com/docs/webhooks-1#verifying-integrity

Signed string: ``X-Front-Request-Timestamp + ":" + raw_body``, HMAC-SHA256 keyed with the app's signing
secret, base64 in ``X-Front-Signature``. The timestamp is unix **milliseconds**; we reject it more than
300 s from now in either direction.

Handshake: when the webhook is set up Front sends ``X-Front-Challenge``, signed like any event; once
verified it is echoed back, as the body (``{"challenge": ...}``) and as text, per Front's instructions.
Event type ``type`` (``inbound_received``); delivery id ``id``; tenant: the company the app is installed
in, ``authorization.id``.
"""

from __future__ import annotations

import json

from verifiers._core import EventInfo, HandshakeReply, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, loads
from verifiers._hmac import b64decode_strict, check_timestamp, hmac_b64, hmac_digest, require_any
from verifiers.errors import MalformedHeader

TOLERANCE_S = 300
SIGNATURE, TIMESTAMP, CHALLENGE = "x-front-signature", "x-front-request-timestamp", "x-front-challenge"


def verify(request: Request) -> None:
    received = b64decode_strict(request.require_header(SIGNATURE))
    timestamp = request.require_header(TIMESTAMP).strip()
    secrets = request.require_secrets()
    check_timestamp(timestamp, now=request.now, tolerance_s=TOLERANCE_S, scale=1000)
    message = timestamp.encode() + b":" + request.body
    require_any((hmac_digest(s.encode(), message) for s in secrets), [received], scheme="front")


def sign(s: SignInput) -> Signed:
    ts = str(int(s.now * 1000))
    return s.signed({TIMESTAMP: ts, SIGNATURE: hmac_b64(s.secret.encode(), ts.encode() + b":" + s.body)})


def handshake(request: Request) -> HandshakeReply | None:
    challenge = request.header(CHALLENGE)
    if challenge is None:
        return None
    verify(request)
    if not challenge or len(challenge) > 256 or not (challenge.isascii() and challenge.isprintable()):
        raise MalformedHeader("the challenge is not a short printable token", header=CHALLENGE)
    return HandshakeReply(200, {"content-type": "application/json"}, json.dumps({"challenge": challenge}).encode())


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    return [EventInfo(dig(data, "authorization", "id"), dig(data, "type"), dig(data, "id"))]


PROVIDER = register(Provider("front", verify, handshake, extract, sign=sign))
