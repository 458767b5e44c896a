"""Slack request signing (Events API, slash commands, interactivity).

Docs: https://api.slack.com/authentication/verifying-requests-from-slack

Signed string: ``b"v0:" + X-Slack-Request-Timestamp + b":" + raw_body``, HMAC-SHA256 with the app's
signing secret, lowercase hex with the ``v0=`` prefix in ``X-Slack-Signature``. Timestamps more than
300 s away from now, in either direction, are rejected.
"""

from __future__ import annotations

import json
from typing import Any

from verifiers._core import EventInfo, HandshakeReply, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, form, handshake_json, loads
from verifiers._hmac import check_timestamp, hmac_hex, require_any

TOLERANCE_S = 300


def verify(request: Request) -> None:
    ts = request.require_header("x-slack-request-timestamp")
    sig = request.require_header("x-slack-signature")
    secrets = request.require_secrets()
    check_timestamp(ts, now=request.now, tolerance_s=TOLERANCE_S)
    message = b"v0:" + ts.encode() + b":" + request.body
    require_any(("v0=" + hmac_hex(s.encode(), message) for s in secrets), [sig], scheme="slack-v0")


def handshake(request: Request) -> HandshakeReply | None:
    data = handshake_json(request.body, b"url_verification")
    if not isinstance(data, dict) or data.get("type") != "url_verification":
        return None
    verify(request)  # Slack signs the challenge: a forged one must not be echoed
    challenge = data.get("challenge")
    text = challenge if isinstance(challenge, str) else ""
    return HandshakeReply(200, {"content-type": "application/json"}, json.dumps({"challenge": text}).encode())


# A "message" event's channel_type says which subscription delivered it (message.channels, message.im,
# ...); triggers tell channel messages from DMs by it, and edits (subtype message_changed) from new ones.
_MESSAGE_SCOPES = {"channel": "channels", "group": "groups", "im": "im", "mpim": "mpim", "app_home": "app_home"}


def _event_type(data: dict[str, Any]) -> str:
    """``event.type``; for messages ``message.<scope>[.<subtype>]`` when Slack names the channel type."""
    kind = first(dig(data, "event", "type"), dig(data, "type"))
    scope = _MESSAGE_SCOPES.get(dig(data, "event", "channel_type"), "")
    if kind != "message" or not scope:
        return kind
    subtype = dig(data, "event", "subtype")
    return f"message.{scope}.{subtype}" if subtype else f"message.{scope}"


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    if isinstance(data, dict):
        # Events API: a shared-channel event may carry the installing workspace in authorizations.
        tenant = first(
            dig(data, "team_id"),
            dig(data, "authorizations", 0, "team_id"),
            dig(data, "enterprise_id"),
            dig(data, "authorizations", 0, "enterprise_id"),
        )
        return [EventInfo(tenant, _event_type(data), dig(data, "event_id"))]
    fields = form(request.body)
    if "payload" in fields:  # interactivity: a JSON document inside a form field
        payload = loads(fields["payload"].encode())
        # Org-wide (Enterprise Grid) installs send "team": null and only "enterprise".
        tenant = first(dig(payload, "team", "id"), dig(payload, "user", "team_id"), dig(payload, "enterprise", "id"))
        return [EventInfo(tenant, dig(payload, "type"), first(dig(payload, "trigger_id"), dig(payload, "action_ts")))]
    event_type = "slash_command" if "command" in fields else ""
    return [
        EventInfo(
            first(fields.get("team_id", ""), fields.get("enterprise_id", "")), event_type, fields.get("trigger_id", "")
        )
    ]


def sign(s: SignInput) -> Signed:
    ts = str(int(s.now))
    signature = "v0=" + hmac_hex(s.secret.encode(), b"v0:" + ts.encode() + b":" + s.body)
    return s.signed({"x-slack-request-timestamp": ts, "x-slack-signature": signature})


PROVIDER = register(Provider("slack", verify, handshake, extract, sign=sign))
