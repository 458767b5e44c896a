"""Figma webhooks (v2).

Docs: https://www.figma.com/developers/api#webhooks-v2-security

Figma signs nothing: the ``passcode`` set when the webhook was created comes back in every JSON body and is
compared here in constant time with every active secret. No timestamp is signed (``timestamp`` is in the
body); dedupe on ``webhook_id`` + ``timestamp``. Event type ``event_type`` (``FILE_UPDATE``; a ``PING``
is sent on creation and stored like any event); tenant: ``webhook_id`` (a webhook belongs to one team).
"""

from __future__ import annotations

import json

from verifiers._core import EventInfo, NotSignable, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, loads
from verifiers._hmac import require_any
from verifiers.errors import MalformedBody


def verify(request: Request) -> None:
    passcode = request.json_object().get("passcode")
    if not isinstance(passcode, str) or not passcode:
        raise MalformedBody("body carries no passcode")
    require_any(request.require_secrets(), [passcode], scheme="passcode")


def sign(s: SignInput) -> Signed:
    """The passcode travels in the body: it is set to the secret."""
    data = loads(s.body) if s.body.strip() else {}
    if not isinstance(data, dict):
        raise NotSignable("a Figma body is a JSON object")
    if data.get("passcode") == s.secret:
        return s.signed({})
    return Signed({"content-type": "application/json"}, json.dumps({**data, "passcode": s.secret}).encode(), s.url)


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    webhook, stamp = dig(data, "webhook_id"), dig(data, "timestamp")
    return [EventInfo(webhook, dig(data, "event_type"), f"{webhook}:{stamp}" if webhook and stamp else "")]


PROVIDER = register(Provider("figma", verify, extract=extract, sign=sign))
