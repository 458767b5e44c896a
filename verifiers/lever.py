"""Lever webhooks.

Docs: https://hire.lever.co/developer/documentation#webhooks

The signature travels in the JSON **body**, not a header: the payload carries ``token`` (random, per
delivery), ``triggeredAt`` (unix milliseconds) and ``signature``, where
``signature = hex(HMAC-SHA256(webhook signature token, token + str(triggeredAt)))``.

The signed string does not cover the rest of the body, so the check is only as strong as its replay
controls: ``triggeredAt`` must be within 300 s of now in either direction, and ``extract`` returns
``token`` as the delivery id so the router's deduplication lets each signed token through once.
There is no handshake.
"""

from __future__ import annotations

import json
from typing import Any

from verifiers._core import EventInfo, NotSignable, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, loads
from verifiers._hmac import check_window, hmac_hex, require_any
from verifiers.errors import MalformedBody

TOLERANCE_S = 300
_MAX_MS = 10**16  # far beyond any real clock; keeps float conversion exact


def _fields(data: dict[str, Any]) -> tuple[str, int, str]:
    token, triggered, signature = data.get("token"), data.get("triggeredAt"), data.get("signature")
    if token is None or triggered is None or signature is None:
        raise MalformedBody("body must carry token, triggeredAt and signature")
    if not isinstance(token, str) or not isinstance(signature, str) or not token:
        raise MalformedBody("token and signature must be non-empty strings")
    if isinstance(triggered, bool) or not isinstance(triggered, int) or not 0 <= triggered < _MAX_MS:
        raise MalformedBody("triggeredAt must be unix milliseconds")
    return token, triggered, signature


def verify(request: Request) -> None:
    token, triggered, signature = _fields(request.json_object())
    secrets = request.require_secrets()
    check_window(triggered / 1000, now=request.now, tolerance_s=TOLERANCE_S)
    message = (token + str(triggered)).encode("utf-8", "replace")  # JSON strings may hold lone surrogates
    require_any((hmac_hex(s.encode(), message) for s in secrets), [signature.strip().lower()], scheme="lever")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    # The token is single-use per delivery; the event id is the fallback when it is absent.
    return [EventInfo("", dig(data, "event"), first(dig(data, "token"), dig(data, "id")))]


def sign(s: SignInput) -> Signed:
    """Lever's signature travels in the JSON body: ``token``, ``triggeredAt`` and ``signature`` are set."""
    data = loads(s.body) if s.body.strip() else {}
    if not isinstance(data, dict):
        raise NotSignable("a Lever body is a JSON object")
    token = data.get("token") if isinstance(data.get("token"), str) and data.get("token") else s.delivery_id()
    triggered = int(s.now * 1000)
    signature = hmac_hex(s.secret.encode(), (str(token) + str(triggered)).encode("utf-8", "replace"))
    if (data.get("triggeredAt"), data.get("signature")) == (triggered, signature):
        return s.signed({})
    fields = {**data, "token": token, "triggeredAt": triggered, "signature": signature}
    return Signed({"content-type": "application/json"}, json.dumps(fields).encode(), s.url)


PROVIDER = register(Provider("lever", verify, extract=extract, sign=sign))
