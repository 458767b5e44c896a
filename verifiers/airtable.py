"""Airtable webhook notifications.

Docs: https://airtable.com/developers/web/api/webhooks-overview#webhook-notification-delivery

Signed string: the raw body, HMAC-SHA256 keyed with the webhook's ``macSecretBase64`` **base64-decoded**,
lowercase hex with the ``hmac-sha256=`` prefix in ``X-Airtable-Content-MAC``. No timestamp is signed. A
notification only says "payloads are waiting": ``{"base": {"id"}, "webhook": {"id"}, "timestamp"}``;
tenant ``base.id``, event type ``notification``, delivery id ``webhook.id`` + ``timestamp``.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, loads
from verifiers._families import body_hmac
from verifiers._hmac import b64decode_strict


def _key(secret: str) -> bytes:
    key = b64decode_strict(secret)
    if not key:
        raise ValueError("an empty key is computable by anyone")
    return key


verify, sign = body_hmac("x-airtable-content-mac", scheme="airtable", prefix="hmac-sha256=", key=_key)


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    webhook, stamp = dig(data, "webhook", "id"), dig(data, "timestamp")
    return [
        EventInfo(dig(data, "base", "id"), "notification" if webhook else "", f"{webhook}:{stamp}" if webhook else "")
    ]


PROVIDER = register(Provider("airtable", verify, extract=extract, sign=sign))
