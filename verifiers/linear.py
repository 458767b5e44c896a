"""Linear webhooks.

Docs: https://linear.app/developers/webhooks#securing-webhooks

Signed string: the raw body, HMAC-SHA256 keyed with the webhook's signing secret, bare lowercase hex in
``Linear-Signature``. The timestamp is not a header but the body field ``webhookTimestamp`` (epoch
**milliseconds**), covered by the signature; like Linear's SDK we reject it more than 60 s from now,
in either direction. Linear's SDK treats the field as optional; every delivery carries it, so a body
without it is rejected. Tenant: ``organizationId``; delivery id: the ``Linear-Delivery`` header.
"""

from __future__ import annotations

import json

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, loads
from verifiers._hmac import check_window, hmac_hex, require_any
from verifiers.errors import MalformedBody

TOLERANCE_S = 60


def verify(request: Request) -> None:
    sig = request.require_header("linear-signature")
    secrets = request.require_secrets()
    require_any((hmac_hex(s.encode(), request.body) for s in secrets), [sig.strip().lower()], scheme="linear")
    # Read the timestamp only from a body the signature has vouched for.
    stamp = request.json_object().get("webhookTimestamp")
    # An integer in a sane range only: NaN would pass any window and a huge int overflows float division.
    if isinstance(stamp, bool) or not isinstance(stamp, int) or not 0 <= stamp < 10**15:
        raise MalformedBody("webhookTimestamp missing or not an integer in milliseconds")
    check_window(stamp / 1000, now=request.now, tolerance_s=TOLERANCE_S)


_UPDATED_PARTS = (("labelIds", "labels"), ("stateId", "state"))  # updatedFrom key, event type suffix


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    kind, action = dig(data, "type"), dig(data, "action")
    event_type = f"{kind}.{action}" if kind and action else kind or (request.header("linear-event") or "")
    # An update's updatedFrom holds the previous values of what changed: name the parts triggers tell
    # apart (Issue.update.state, Issue.update.labels, Issue.update.labels.state).
    previous = data.get("updatedFrom") if isinstance(data, dict) and action == "update" else None
    if isinstance(previous, dict):
        event_type += "".join(f".{part}" for key, part in _UPDATED_PARTS if key in previous)
    return [EventInfo(dig(data, "organizationId"), event_type, request.header("linear-delivery") or "")]


def sign(s: SignInput) -> Signed:
    """A JSON body without ``webhookTimestamp`` gets one (``now``): Linear signs it inside the body."""
    body = s.body
    data = loads(body)
    if isinstance(data, dict) and "webhookTimestamp" not in data:
        body = json.dumps({**data, "webhookTimestamp": int(s.now * 1000)}).encode()
    headers = {
        "linear-signature": hmac_hex(s.secret.encode(), body),
        "linear-delivery": s.given("linear-delivery", s.delivery_id()),
    }
    if dig(data, "type"):
        headers["linear-event"] = s.given("linear-event", dig(data, "type"))
    return Signed(headers, body, s.url)


PROVIDER = register(Provider("linear", verify, extract=extract, sign=sign))
