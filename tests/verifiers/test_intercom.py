from __future__ import annotations

import contextlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import MissingHeader, MissingSecret, SignatureMismatch, VerificationError

# Intercom publishes no signed example (no secret with a digest), so every request here is produced by
# the sign helper below, which follows the documented scheme: HMAC-SHA1(client_secret, raw body), "sha1=" + hex.
SECRET = "intercom-client-secret"
BODY = (
    b'{"type":"notification_event","app_id":"ecahpwf5","data":{"type":"notification_event_data",'
    b'"item":{"type":"conversation","id":"147"}},"links":{},"id":"notif_ccd8a4d2-b9fd-4a2d-a5d0-3d4b2c9c2a1e",'
    b'"topic":"conversation.user.created","delivery_status":"pending","delivery_attempts":1,'
    b'"delivered_at":0,"first_sent_at":1700000000,"created_at":1700000000,"self":null}'
)
PING = (
    b'{"type":"notification_event","app_id":"ecahpwf5","data":{"item":{"type":"ping","message":"hi"}},'
    b'"id":"notif_1","topic":"ping"}'
)


def sign(body: bytes, *, secret: str = SECRET) -> dict[str, str]:
    return verifiers.sign("intercom", secrets=[secret], body=body)


def test_signed_notification_verifies() -> None:
    verifiers.verify("intercom", secrets=[SECRET], headers=sign(BODY), body=BODY)


def test_rotated_secret_accepted() -> None:
    verifiers.verify("intercom", secrets=["new", "old"], headers=sign(BODY, secret="old"), body=BODY)


@pytest.mark.parametrize(
    ("headers", "body", "kwargs", "error"),
    [
        (sign(BODY), BODY + b"\n", {}, SignatureMismatch),
        (sign(BODY), BODY, {"secrets": ["wrong"]}, SignatureMismatch),
        ({"X-Hub-Signature": sign(BODY)["x-hub-signature"][5:]}, BODY, {}, SignatureMismatch),
        (
            {"X-Hub-Signature": "sha256=" + hmac.new(SECRET.encode(), BODY, "sha256").hexdigest()},
            BODY,
            {},
            SignatureMismatch,
        ),  # fmt: skip
        ({"X-Hub-Signature": "sha1=zz\u00e9"}, BODY, {}, SignatureMismatch),
        ({}, BODY, {}, MissingHeader),
        (sign(BODY), BODY, {"secrets": []}, MissingSecret),
    ],
)
def test_rejects(headers: dict[str, str], body: bytes, kwargs: dict[str, Any], error: type[VerificationError]) -> None:
    args: dict[str, Any] = {"secrets": [SECRET], **kwargs}
    with pytest.raises(error) as info:
        verifiers.verify("intercom", headers=headers, body=body, **args)
    assert info.value.reason == error.reason


def test_ping_is_acknowledged_once_verified() -> None:
    reply = verifiers.handshake("intercom", secrets=[SECRET], headers=sign(PING), body=PING)
    assert reply is not None
    assert reply.status == 200
    assert json.loads(reply.body) == {"ok": True}


def test_forged_ping_rejected() -> None:
    with pytest.raises(SignatureMismatch):
        verifiers.handshake("intercom", secrets=[SECRET], headers=sign(PING, secret="forged"), body=PING)


def test_notifications_are_not_handshakes() -> None:
    assert verifiers.handshake("intercom", secrets=[SECRET], headers=sign(BODY), body=BODY) is None


def test_extract() -> None:
    assert verifiers.extract("intercom", headers=sign(BODY), body=BODY) == [
        verifiers.EventInfo("ecahpwf5", "conversation.user.created", "notif_ccd8a4d2-b9fd-4a2d-a5d0-3d4b2c9c2a1e")
    ]


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), sig=st.text(max_size=80), ping=st.booleans())
def test_only_verification_errors(body: bytes, sig: str, ping: bool) -> None:
    headers = {"x-hub-signature": sig}
    body = PING if ping else body
    for call in (verifiers.verify, verifiers.handshake):
        with contextlib.suppress(VerificationError):
            call("intercom", secrets=[SECRET], headers=headers, body=body)
    assert verifiers.extract("intercom", headers=headers, body=body)
