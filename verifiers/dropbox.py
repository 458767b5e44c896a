"""Dropbox webhooks.

Docs: https://www.dropbox.com/developers/reference/webhooks

Signed string: the raw body, HMAC-SHA256 keyed with the app secret, lowercase hex in
``X-Dropbox-Signature``. No timestamp and no delivery id: a notification only says "these accounts
changed", so a replay costs one redundant sync.

Handshake: ``GET ?challenge=<s>`` must be echoed verbatim with ``Content-Type: text/plain`` and
``X-Content-Type-Options: nosniff`` (Dropbox's own requirement, since the text is attacker-chosen).

Tenant: ``list_folder.accounts[]``, one EventInfo per account whose ``body`` is
``{"list_folder":{"accounts":[<that account>]}}``; the legacy format's ``delta.users[]`` likewise.
"""

from __future__ import annotations

from verifiers._core import EventInfo, HandshakeReply, Provider, Request, Signed, SignInput, register
from verifiers._extract import loads
from verifiers._hmac import hmac_hex, require_any
from verifiers._query_and_batches import echo, event_json, query_values


def verify(request: Request) -> None:
    sig = request.require_header("x-dropbox-signature")
    secrets = request.require_secrets()
    require_any((hmac_hex(s.encode(), request.body) for s in secrets), [sig.strip().lower()], scheme="dropbox")


def handshake(request: Request) -> HandshakeReply | None:
    challenges = query_values(request.url, "challenge")
    if request.method != "GET" or not challenges:
        return None
    return echo(challenges[0])


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    if not isinstance(data, dict):
        return []
    events: list[EventInfo] = []
    for outer, inner, kind in (("list_folder", "accounts", "list_folder"), ("delta", "users", "delta")):
        group = data.get(outer)
        ids = group.get(inner) if isinstance(group, dict) else None
        for item in ids if isinstance(ids, list) else []:
            if isinstance(item, str | int) and not isinstance(item, bool):
                events.append(EventInfo(str(item), kind, "", event_json({outer: {inner: [item]}})))
    return events


def sign(s: SignInput) -> Signed:
    return s.signed({"x-dropbox-signature": hmac_hex(s.secret.encode(), s.body)})


PROVIDER = register(Provider("dropbox", verify, handshake, extract, sign=sign))
