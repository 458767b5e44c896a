from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import (
    MalformedHeader,
    MissingHeader,
    MissingSecret,
    SignatureMismatch,
    UnsupportedVersion,
    VerificationError,
)

# Greenhouse's docs show "Signature: sha256 37d27251...a4ef" without the secret or body, so it is not a
# usable vector; signatures here come from the sign helper: "sha256 " + hex HMAC-SHA256 of the raw body.
SECRET = "greenhouse-secret-key"
BODY = b'{"action":"candidate_hired","payload":{"application":{"id":265277,"candidate":{"id":265279}}}}'
PING = b'{"action":"ping","payload":{"web_hook_id":1}}'


def sign(body: bytes, *, secret: str = SECRET) -> dict[str, str]:
    return verifiers.sign("greenhouse", secrets=[secret], body=body)


def test_signed_request_verifies() -> None:
    verifiers.verify("greenhouse", secrets=[SECRET], headers=sign(BODY), body=BODY)


def test_rotated_secret_accepted() -> None:
    verifiers.verify("greenhouse", secrets=["new", "old"], headers=sign(BODY, secret="old"), body=BODY)


SIG = sign(BODY)["signature"]


@pytest.mark.parametrize(
    ("headers", "body", "kwargs", "error"),
    [
        (sign(BODY), BODY + b" ", {}, SignatureMismatch),
        (sign(BODY), BODY, {"secrets": ["wrong"]}, SignatureMismatch),
        ({"Signature": SIG.replace(" ", "=")}, BODY, {}, MalformedHeader),
        ({"Signature": SIG.split(" ")[1]}, BODY, {}, MalformedHeader),
        ({"Signature": SIG.replace("sha256", "sha1")}, BODY, {}, UnsupportedVersion),
        ({"Signature": "sha256 zz"}, BODY, {}, SignatureMismatch),
        ({}, BODY, {}, MissingHeader),
        (sign(BODY), BODY, {"secrets": []}, MissingSecret),
    ],
)
def test_rejects(headers: dict[str, str], body: bytes, kwargs: dict[str, Any], error: type[VerificationError]) -> None:
    args: dict[str, Any] = {"secrets": [SECRET], **kwargs}
    with pytest.raises(error) as info:
        verifiers.verify("greenhouse", headers=headers, body=body, **args)
    assert info.value.reason == error.reason


def test_ping_is_acknowledged_once_verified() -> None:
    reply = verifiers.handshake("greenhouse", secrets=[SECRET], headers=sign(PING), body=PING)
    assert reply is not None
    assert (reply.status, json.loads(reply.body)) == (200, {"ok": True})


def test_forged_ping_rejected() -> None:
    with pytest.raises(SignatureMismatch):
        verifiers.handshake("greenhouse", secrets=[SECRET], headers=sign(PING, secret="forged"), body=PING)


def test_events_are_not_handshakes() -> None:
    assert verifiers.handshake("greenhouse", secrets=[SECRET], headers=sign(BODY), body=BODY) is None


def test_extract() -> None:
    assert verifiers.extract("greenhouse", headers=sign(BODY), body=BODY) == [
        verifiers.EventInfo("", "candidate_hired", "")
    ]


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), sig=st.text(max_size=80), ping=st.booleans())
def test_only_verification_errors(body: bytes, sig: str, ping: bool) -> None:
    headers = {"signature": sig}
    body = PING if ping else body
    for call in (verifiers.verify, verifiers.handshake):
        with contextlib.suppress(VerificationError):
            call("greenhouse", secrets=[SECRET], headers=headers, body=body)
    assert verifiers.extract("greenhouse", headers=headers, body=body)
