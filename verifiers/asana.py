"""Asana webhooks and the X-Hook-Secret handshake.

Docs: https://developers.asana.com/docs/webhooks-guide (and .../reference/createwebhook)

Handshake: while the create-webhook API call is still in flight, Asana POSTs to the target with an
``X-Hook-Secret`` header and no signature; we answer 200 echoing that header and ask the router to
persist the value as this webhook's secret. Nothing authenticates that request, so the router must
accept ``persist`` only while it is itself creating an Asana webhook for the integration; otherwise
anyone could install a secret of their choosing.

Events: ``X-Hook-Signature`` = hex(HMAC-SHA256(X-Hook-Secret, raw_body)). No timestamp is signed.
A delivery is ``{"events": [...]}`` (heartbeats send an empty list) and is split one event per
``EventInfo``. Events name resources only by gid, so the tenant comes from the URL, not the payload.
"""

from __future__ import annotations

import json
from typing import Any

from verifiers._core import EventInfo, HandshakeReply, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, loads
from verifiers._hmac import hmac_hex, require_any
from verifiers.errors import MalformedHeader

MAX_SECRET_CHARS = 512


def verify(request: Request) -> None:
    sig = request.require_header("x-hook-signature")
    secrets = request.require_secrets()
    expected = (hmac_hex(s.encode(), request.body) for s in secrets)
    require_any(expected, [sig.strip().lower()], scheme="asana-sha256")


def handshake(request: Request) -> HandshakeReply | None:
    secret = request.header("x-hook-secret")
    if secret is None:
        return None
    # The value is echoed into a response header and stored as a key: printable ASCII only, bounded.
    if not secret or len(secret) > MAX_SECRET_CHARS or not (secret.isascii() and secret.isprintable()):
        raise MalformedHeader("x-hook-secret is not a printable ASCII token", header="x-hook-secret")
    return HandshakeReply(200, {"x-hook-secret": secret}, b"", persist={"secret": secret})


def _event(item: Any) -> EventInfo:
    resource, action = dig(item, "resource", "resource_type"), dig(item, "action")
    # The changed field (task.changed.completed) and a story's subtype (story.added.comment_added) tell
    # a completion from other edits and a comment from system activity.
    subtype = dig(item, "resource", "resource_subtype") if resource == "story" else ""
    detail = first(dig(item, "change", "field"), subtype)
    try:
        body: bytes | None = json.dumps(item, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        body = None
    event_type = f"{resource}.{action}" if resource and action else action
    return EventInfo("", f"{event_type}.{detail}" if event_type and detail else event_type, "", body)


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    events = data.get("events") if isinstance(data, dict) else None
    return [_event(item) for item in events] if isinstance(events, list) else []


def sign(s: SignInput) -> Signed:
    return s.signed({"x-hook-signature": hmac_hex(s.secret.encode(), s.body)})


PROVIDER = register(Provider("asana", verify, handshake, extract, sign=sign))
