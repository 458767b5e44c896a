"""Adyen standard webhooks (notifications), HMAC-signed per notification item.

Docs: https://docs.adyen.com/development-resources/webhooks/verify-hmac-signatures

Signed string, one per ``NotificationRequestItem``: ``pspReference:originalReference:merchantAccountCode:
merchantReference:amount.value:amount.currency:eventCode:success`` (an absent field is empty, so two colons
meet). HMAC-SHA256 keyed with the HMAC key **hex-decoded**, base64 in the item's
``additionalData.hmacSignature``. Every item of a batch must verify. No timestamp is signed: dedupe on
``pspReference`` + ``eventCode``. Tenant ``merchantAccountCode``; event type ``eventCode``; one EventInfo
per item, its body the item's JSON.
"""

from __future__ import annotations

import json
from typing import Any

from verifiers._core import EventInfo, NotSignable, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, loads
from verifiers._hmac import b64decode_strict, hmac_b64, hmac_digest, require_any
from verifiers._query_and_batches import event_json
from verifiers.errors import MalformedBody, MalformedHeader, MissingSecret, SignatureMismatch

FIELDS = ("pspReference", "originalReference", "merchantAccountCode", "merchantReference")


def signed_string(item: Any) -> bytes:
    amount = (dig(item, "amount", "value"), dig(item, "amount", "currency"))
    parts = [dig(item, name) for name in FIELDS] + [*amount, dig(item, "eventCode"), dig(item, "success")]
    return ":".join(parts).encode("utf-8", "replace")


def dig_item(entry: Any) -> Any:
    return entry.get("NotificationRequestItem") if isinstance(entry, dict) else None


def items(data: Any) -> list[Any]:
    entries = data.get("notificationItems") if isinstance(data, dict) else None
    found = [dig_item(e) for e in entries] if isinstance(entries, list) else []
    return [item for item in found if isinstance(item, dict)]


def _keys(secrets: tuple[str, ...]) -> list[bytes]:
    keys = []
    for secret in secrets:
        try:
            keys.append(bytes.fromhex(secret.strip()))
        except ValueError:
            continue
    if not keys:
        raise MissingSecret("no secret is a hex HMAC key")
    return keys


def verify(request: Request) -> None:
    found = items(request.json_object())
    if not found:
        raise MalformedBody("body has no notificationItems")
    keys = _keys(request.require_secrets())
    for item in found:
        signature = dig(item, "additionalData", "hmacSignature")
        if not signature:
            raise SignatureMismatch("a notification item carries no hmacSignature", scheme="adyen-hmac")
        try:
            received = b64decode_strict(signature)
        except MalformedHeader:
            raise SignatureMismatch("an hmacSignature is not base64", scheme="adyen-hmac") from None
        require_any((hmac_digest(k, signed_string(item)) for k in keys), [received], scheme="adyen-hmac")


def sign(s: SignInput) -> Signed:
    """Each item's ``additionalData.hmacSignature`` is set: the signature travels in the body."""
    try:
        key = bytes.fromhex(s.secret.strip())
    except ValueError:
        raise NotSignable("Adyen's HMAC key is hex") from None
    data = loads(s.body)
    if not items(data):
        raise NotSignable("an Adyen body has notificationItems")
    for entry in data["notificationItems"]:
        item = dig_item(entry)
        if isinstance(item, dict):
            extra = item.get("additionalData")
            kept = extra if isinstance(extra, dict) else {}
            item["additionalData"] = {**kept, "hmacSignature": hmac_b64(key, signed_string(item))}
    body = json.dumps(data).encode()
    return s.signed({}) if body == s.body else Signed({"content-type": "application/json"}, body, s.url)


def extract(request: Request) -> list[EventInfo]:
    return [
        EventInfo(
            dig(item, "merchantAccountCode"),
            dig(item, "eventCode"),
            f"{dig(item, 'pspReference')}:{dig(item, 'eventCode')}",
            event_json(item),
        )
        for item in items(loads(request.body))
    ]


PROVIDER = register(Provider("adyen", verify, extract=extract, sign=sign))
