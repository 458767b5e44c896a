"""Mailgun webhooks.

Docs: https://documentation.mailgun.com/docs/mailgun/user-manual/events/webhooks/#securing-webhooks

The signature travels in the body: ``{"signature": {"timestamp", "token", "signature"}, "event-data": {...}}``
(legacy webhooks post the same three as form fields). ``signature = hex(HMAC-SHA256(webhook signing key,
timestamp + token))``. The signed string does not cover the event, so the check is only as strong as its
replay controls: the timestamp must be within 300 s of now in either direction, and ``token`` is the
delivery id the router deduplicates on. Event type ``event-data.event`` (``delivered``); the domain's
account is the webhook's owner (route by URL).
"""

from __future__ import annotations

import json
from typing import Any

from verifiers._core import EventInfo, NotSignable, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, form, loads
from verifiers._hmac import check_timestamp, hmac_hex, require_any
from verifiers.errors import MalformedBody

TOLERANCE_S = 300


def _fields(body: bytes) -> tuple[str, str, str]:
    data: Any = loads(body)
    found = data.get("signature") if isinstance(data, dict) else form(body)
    if not isinstance(found, dict):
        raise MalformedBody("body carries no signature object")
    values = tuple(found.get(name) for name in ("timestamp", "token", "signature"))
    if not all(isinstance(v, str | int) and not isinstance(v, bool) and str(v) for v in values):
        raise MalformedBody("signature needs timestamp, token and signature")
    return str(values[0]), str(values[1]), str(values[2])


def verify(request: Request) -> None:
    timestamp, token, signature = _fields(request.body)
    secrets = request.require_secrets()
    check_timestamp(timestamp, now=request.now, tolerance_s=TOLERANCE_S)
    message = (timestamp + token).encode("utf-8", "replace")
    require_any((hmac_hex(s.encode(), message) for s in secrets), [signature.strip().lower()], scheme="mailgun")


def sign(s: SignInput) -> Signed:
    """A JSON body gets its ``signature`` object, token made up unless the body has one."""
    data = loads(s.body) if s.body.strip() else {}
    if not isinstance(data, dict):
        raise NotSignable("a Mailgun body is a JSON object")
    token = dig(data, "signature", "token") or s.delivery_id()
    timestamp = str(int(s.now))
    signature = {
        "timestamp": timestamp,
        "token": token,
        "signature": hmac_hex(s.secret.encode(), (timestamp + token).encode()),
    }
    if data.get("signature") == signature:
        return s.signed({})
    return Signed({"content-type": "application/json"}, json.dumps({**data, "signature": signature}).encode(), s.url)


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    fields = {} if isinstance(data, dict) else form(request.body)
    event = first(dig(data, "event-data", "event"), fields.get("event", ""))
    token = first(dig(data, "signature", "token"), fields.get("token", ""))
    return [EventInfo("", event, token)]


PROVIDER = register(Provider("mailgun", verify, extract=extract, sign=sign))
