"""PandaDoc webhooks.

Docs: https://developers.pandadoc.com/docs/webhooks#verifying-webhook-signature (the shared key)

Signed string: the raw body, HMAC-SHA256 keyed with the webhook's shared key, lowercase hex in the URL's
``?signature=`` query parameter (PandaDoc appends it to the configured URL). No timestamp is signed. The body
is a JSON array of events, one EventInfo each: event type ``event`` (``document_state_changed``), delivery
id ``data.id`` + ``event`` + ``data.status``; the workspace is the webhook's owner (route by URL).
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, loads
from verifiers._hmac import hmac_hex, require_any
from verifiers._query_and_batches import event_json, query_values
from verifiers.errors import MissingHeader


def verify(request: Request) -> None:
    received = query_values(request.url, "signature")
    if not received:
        raise MissingHeader("the URL carries no ?signature= parameter", header="?signature")
    secrets = request.require_secrets()
    require_any((hmac_hex(s.encode(), request.body) for s in secrets), [r.lower() for r in received], scheme="pandadoc")


def sign(s: SignInput) -> Signed:
    """The signature travels in the URL: ``?signature=`` is appended."""
    signature = hmac_hex(s.secret.encode(), s.body)
    if signature in query_values(s.url, "signature"):
        return s.signed({})
    return Signed({}, s.body, s.url + ("&" if "?" in s.url else "?") + "signature=" + signature)


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    events = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
    out = []
    for event in events:
        if isinstance(event, dict):
            kind, doc, status = dig(event, "event"), dig(event, "data", "id"), dig(event, "data", "status")
            delivery = ":".join(p for p in (doc, kind, status) if p) if doc else ""
            out.append(EventInfo("", kind, delivery, event_json(event) if isinstance(data, list) else None))
    return out


PROVIDER = register(Provider("pandadoc", verify, extract=extract, sign=sign))
