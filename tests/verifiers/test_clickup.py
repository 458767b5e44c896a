from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import MissingHeader, MissingSecret, SignatureMismatch, VerificationError

# ClickUp's docs example (X-Signature: f7bc83f430538424b13298e6aa6) is truncated and names no secret, so it
# is not a usable vector; signatures here come from the sign helper. The body is the docs' example body.
SECRET = "O94HPNJBKGU4FGNC0YG8U8UT96NAZ6XLJBWZAGGAPP4H7Y4CCUUO6L6VPEAJGZO9"
BODY = b'{"webhook_id":"7689a169-a000-4985-8676-6902b96d6627","event":"taskCreated","task_id":"c0j"}'


def sign(body: bytes, *, secret: str = SECRET) -> dict[str, str]:
    return verifiers.sign("clickup", secrets=[secret], body=body)


def test_signed_request_verifies() -> None:
    verifiers.verify("clickup", secrets=[SECRET], headers=sign(BODY), body=BODY)


def test_rotated_secret_accepted() -> None:
    verifiers.verify("clickup", secrets=["new", "old"], headers=sign(BODY, secret="old"), body=BODY)


@pytest.mark.parametrize(
    ("headers", "body", "kwargs", "error"),
    [
        (sign(BODY), BODY + b" ", {}, SignatureMismatch),
        (sign(BODY), BODY, {"secrets": ["wrong"]}, SignatureMismatch),
        ({"X-Signature": "f7bc83f430538424b13298e6aa6"}, BODY, {}, SignatureMismatch),
        ({"X-Signature": "\u00e9"}, BODY, {}, SignatureMismatch),
        ({}, BODY, {}, MissingHeader),
        (sign(BODY), BODY, {"secrets": []}, MissingSecret),
    ],
)
def test_rejects(headers: dict[str, str], body: bytes, kwargs: dict[str, Any], error: type[VerificationError]) -> None:
    args: dict[str, Any] = {"secrets": [SECRET], **kwargs}
    with pytest.raises(error) as info:
        verifiers.verify("clickup", headers=headers, body=body, **args)
    assert info.value.reason == error.reason


def test_no_handshake() -> None:
    assert verifiers.handshake("clickup", secrets=[SECRET], headers=sign(BODY), body=BODY) is None


def test_extract() -> None:
    assert verifiers.extract("clickup", headers=sign(BODY), body=BODY) == [
        verifiers.EventInfo("7689a169-a000-4985-8676-6902b96d6627", "taskCreated", "")
    ]


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), sig=st.text(max_size=80))
def test_only_verification_errors(body: bytes, sig: str) -> None:
    headers = {"x-signature": sig}
    for call in (verifiers.verify, verifiers.handshake):
        with contextlib.suppress(VerificationError):
            call("clickup", secrets=[SECRET], headers=headers, body=body)
    assert verifiers.extract("clickup", headers=headers, body=body)
