from __future__ import annotations

import contextlib
import hmac
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import MissingHeader, MissingSecret, SignatureMismatch, VerificationError

# Salesloft publishes no signed example; signatures here come from the sign helper, which follows
# https://developers.salesloft.com/docs/platform/webhooks/delivery-headers/: hex HMAC-SHA1 of the body
# keyed with the subscription's callback_token.
SECRET = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
BODY = b'{"id":1,"email_address":"person@example.com","updated_at":"2024-01-01T00:00:00.000000-05:00"}'


def sign(body: bytes, *, secret: str = SECRET, event: str = "person_updated") -> dict[str, str]:
    return verifiers.sign("salesloft", secrets=[secret], body=body, headers={"x-salesloft-event": event})


def test_signed_request_verifies() -> None:
    verifiers.verify("salesloft", secrets=[SECRET], headers=sign(BODY), body=BODY)


def test_rotated_secret_accepted() -> None:
    verifiers.verify("salesloft", secrets=["new", "old"], headers=sign(BODY, secret="old"), body=BODY)


@pytest.mark.parametrize(
    ("headers", "body", "kwargs", "error"),
    [
        (sign(BODY), BODY + b" ", {}, SignatureMismatch),
        (sign(BODY), BODY, {"secrets": ["wrong"]}, SignatureMismatch),
        (
            {"x-salesloft-signature": hmac.new(SECRET.encode(), BODY, "sha256").hexdigest()},
            BODY,
            {},
            SignatureMismatch,
        ),  # fmt: skip
        ({"x-salesloft-signature": "\u00e9"}, BODY, {}, SignatureMismatch),
        ({"x-salesloft-event": "person_updated"}, BODY, {}, MissingHeader),
        (sign(BODY), BODY, {"secrets": []}, MissingSecret),
    ],
)
def test_rejects(headers: dict[str, str], body: bytes, kwargs: dict[str, Any], error: type[VerificationError]) -> None:
    args: dict[str, Any] = {"secrets": [SECRET], **kwargs}
    with pytest.raises(error) as info:
        verifiers.verify("salesloft", headers=headers, body=body, **args)
    assert info.value.reason == error.reason


def test_no_handshake() -> None:
    assert verifiers.handshake("salesloft", secrets=[SECRET], headers=sign(BODY), body=BODY) is None


def test_extract() -> None:
    assert verifiers.extract("salesloft", headers=sign(BODY), body=BODY) == [
        verifiers.EventInfo("", "person_updated", "")
    ]


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), sig=st.text(max_size=80), event=st.text(max_size=40))
def test_only_verification_errors(body: bytes, sig: str, event: str) -> None:
    headers = {"x-salesloft-signature": sig, "x-salesloft-event": event}
    for call in (verifiers.verify, verifiers.handshake):
        with contextlib.suppress(VerificationError):
            call("salesloft", secrets=[SECRET], headers=headers, body=body)
    assert verifiers.extract("salesloft", headers=headers, body=body)
