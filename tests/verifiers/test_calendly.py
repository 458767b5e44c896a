from __future__ import annotations

import contextlib
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
    TimestampOutOfRange,
    UnsupportedVersion,
    VerificationError,
)

# Calendly's docs show the header shape (t=1492774577,v1=5257a869...) but no key with it, so it cannot be
# checked; signatures here come from the sign helper: hex HMAC-SHA256 over f"{t}.{raw body}".
SECRET = "calendly-webhook-signing-key"
NOW = 1_700_000_000.0
BODY = (
    b'{"created_at":"2023-11-14T22:13:20.000000Z","created_by":"https://api.calendly.com/users/AAAAAAAAAAAAAAAA",'
    b'"event":"invitee.created","payload":{"uri":"https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2/'
    b'invitees/AAAAAAAAAAAAAAAA","email":"test@example.com"}}'
)
HEADER = "calendly-webhook-signature"


def sign(body: bytes, *, secret: str = SECRET, now: float = NOW) -> dict[str, str]:
    return verifiers.sign("calendly", secrets=[secret], body=body, now=now)


def test_signed_request_verifies() -> None:
    verifiers.verify("calendly", secrets=[SECRET], headers=sign(BODY), body=BODY, now=NOW)


def test_rotated_secret_accepted() -> None:
    verifiers.verify("calendly", secrets=["new", "old"], headers=sign(BODY, secret="old"), body=BODY, now=NOW)


def test_any_v1_entry_may_match() -> None:
    header = sign(BODY)[HEADER].replace("v1=", "v1=" + "0" * 64 + ",v1=")
    verifiers.verify("calendly", secrets=[SECRET], headers={HEADER: header}, body=BODY, now=NOW)


SIGNED = sign(BODY)


@pytest.mark.parametrize(
    ("headers", "body", "kwargs", "error"),
    [
        (SIGNED, BODY + b" ", {}, SignatureMismatch),
        (SIGNED, BODY, {"secrets": ["wrong"]}, SignatureMismatch),
        (SIGNED, BODY, {"now": NOW + 181}, TimestampOutOfRange),
        (SIGNED, BODY, {"now": NOW - 181}, TimestampOutOfRange),
        ({HEADER: SIGNED[HEADER].replace("t=", "t=9")}, BODY, {}, TimestampOutOfRange),
        ({HEADER: SIGNED[HEADER].split(",")[1]}, BODY, {}, MalformedHeader),
        ({HEADER: "t=abc,v1=00"}, BODY, {}, MalformedHeader),
        ({HEADER: SIGNED[HEADER].replace("v1=", "v0=")}, BODY, {}, UnsupportedVersion),
        ({HEADER: "garbage"}, BODY, {}, MalformedHeader),
        ({}, BODY, {}, MissingHeader),
        (SIGNED, BODY, {"secrets": []}, MissingSecret),
    ],
)
def test_rejects(headers: dict[str, str], body: bytes, kwargs: dict[str, Any], error: type[VerificationError]) -> None:
    args: dict[str, Any] = {"secrets": [SECRET], "now": NOW, **kwargs}
    with pytest.raises(error) as info:
        verifiers.verify("calendly", headers=headers, body=body, **args)
    assert info.value.reason == error.reason


def test_no_handshake() -> None:
    assert verifiers.handshake("calendly", secrets=[SECRET], headers=SIGNED, body=BODY, now=NOW) is None


def test_extract() -> None:
    assert verifiers.extract("calendly", headers=SIGNED, body=BODY) == [
        verifiers.EventInfo("https://api.calendly.com/users/AAAAAAAAAAAAAAAA", "invitee.created", "")
    ]


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), sig=st.text(max_size=120))
def test_only_verification_errors(body: bytes, sig: str) -> None:
    headers = {"calendly-webhook-signature": sig}
    for call in (verifiers.verify, verifiers.handshake):
        with contextlib.suppress(VerificationError):
            call("calendly", secrets=[SECRET], headers=headers, body=body, now=NOW)
    assert verifiers.extract("calendly", headers=headers, body=body)
