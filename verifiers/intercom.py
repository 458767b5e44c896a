"""Intercom webhooks.

Docs: https://developers.intercom.com/docs/webhooks/setting-up-webhooks (signed notifications)

Signed string: the raw body, HMAC-SHA1 keyed with the app's ``client_secret``, hex with the ``sha1=``
prefix in ``X-Hub-Signature``. No timestamp is signed: replays are stopped by deduplicating the
notification ``id``. A ``ping`` topic is sent when the subscription is saved; it is signed like any
notification and acknowledged once verified. Tenant: top-level ``app_id`` (the workspace id).
"""

from __future__ import annotations

from verifiers._core import EventInfo, HandshakeReply, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, handshake_json, loads
from verifiers._hmac import hmac_hex, require_any


def verify(request: Request) -> None:
    sig = request.require_header("x-hub-signature")
    secrets = request.require_secrets()
    expected = ("sha1=" + hmac_hex(s.encode(), request.body, "sha1") for s in secrets)
    require_any(expected, [sig.strip()], scheme="intercom-sha1")


def handshake(request: Request) -> HandshakeReply | None:
    if dig(handshake_json(request.body, b'"ping"'), "topic") != "ping":
        return None
    verify(request)
    return HandshakeReply(200, {"content-type": "application/json"}, b'{"ok":true}')


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    return [EventInfo(dig(data, "app_id"), dig(data, "topic"), dig(data, "id"))]


def sign(s: SignInput) -> Signed:
    return s.signed({"x-hub-signature": "sha1=" + hmac_hex(s.secret.encode(), s.body, "sha1")})


PROVIDER = register(Provider("intercom", verify, handshake, extract, sign=sign))
