"""Twitch EventSub webhooks and the ``webhook_callback_verification`` handshake.

Docs: https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message

Signed string: ``Twitch-Eventsub-Message-Id + Twitch-Eventsub-Message-Timestamp + raw_body`` (no
separators), HMAC-SHA256 keyed with the subscription's secret, lowercase hex with the ``sha256=`` prefix in
``Twitch-Eventsub-Message-Signature``. The timestamp is RFC 3339 with nanoseconds; Twitch tells receivers
to reject messages older than 10 minutes; we reject them more than 600 s away in either direction.

Handshake: ``Twitch-Eventsub-Message-Type: webhook_callback_verification`` carries ``{"challenge": ...}``
signed like any message; it is verified first and answered 200 with the raw challenge as text/plain.
``revocation`` messages are stored like notifications (event type ``revocation.<subscription type>``).
Tenant: ``subscription.condition.broadcaster_user_id`` (else the condition's ``user_id``); delivery id:
the message id.
"""

from __future__ import annotations

from datetime import UTC, datetime

from verifiers._core import EventInfo, HandshakeReply, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, handshake_json, loads
from verifiers._hmac import check_window, hmac_hex, require_any
from verifiers._query_and_batches import echo
from verifiers.errors import MalformedBody, MalformedHeader

TOLERANCE_S = 600
ID, TIMESTAMP, SIGNATURE, TYPE = (f"twitch-eventsub-message-{n}" for n in ("id", "timestamp", "signature", "type"))


def _parse(raw: str) -> float:
    text = raw.strip()
    if not text.isascii() or len(text) > 40 or "T" not in text:
        raise MalformedHeader("message timestamp is not RFC 3339", header=TIMESTAMP)
    if "." in text:  # fromisoformat takes at most 6 fraction digits; Twitch sends 9. Seconds are enough.
        head, _, rest = text.partition(".")
        text = head + rest.lstrip("0123456789")
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedHeader("message timestamp is not RFC 3339", header=TIMESTAMP) from None
    if stamp.tzinfo is None:
        raise MalformedHeader("message timestamp has no UTC offset", header=TIMESTAMP)
    return stamp.timestamp()


def verify(request: Request) -> None:
    message_id, timestamp = request.require_header(ID), request.require_header(TIMESTAMP)
    signature = request.require_header(SIGNATURE)
    secrets = request.require_secrets()
    check_window(_parse(timestamp), now=request.now, tolerance_s=TOLERANCE_S)
    message = message_id.encode() + timestamp.encode() + request.body
    require_any(("sha256=" + hmac_hex(s.encode(), message) for s in secrets), [signature.strip()], scheme="twitch")


def sign(s: SignInput) -> Signed:
    message_id = s.given(ID, s.delivery_id())
    timestamp = s.given(TIMESTAMP, datetime.fromtimestamp(int(s.now), UTC).strftime("%Y-%m-%dT%H:%M:%S.000000000Z"))
    signature = "sha256=" + hmac_hex(s.secret.encode(), message_id.encode() + timestamp.encode() + s.body)
    return s.signed({ID: message_id, TIMESTAMP: timestamp, SIGNATURE: signature, TYPE: s.given(TYPE, "notification")})


def handshake(request: Request) -> HandshakeReply | None:
    if request.header(TYPE) != "webhook_callback_verification":
        return None
    verify(request)
    challenge = dig(handshake_json(request.body, b'"challenge"'), "challenge")
    if not challenge:
        raise MalformedBody("webhook_callback_verification has no challenge")
    return echo(challenge)


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    kind = dig(data, "subscription", "type")
    if request.header(TYPE) == "revocation":
        kind = f"revocation.{kind}" if kind else "revocation"
    condition = ("subscription", "condition")
    tenant = first(dig(data, *condition, "broadcaster_user_id"), dig(data, *condition, "user_id"))
    return [EventInfo(tenant, kind, request.header(ID) or "")]


PROVIDER = register(Provider("twitch", verify, handshake, extract, sign=sign))
