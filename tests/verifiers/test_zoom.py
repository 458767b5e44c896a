from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import (
    MalformedBody,
    MalformedHeader,
    MissingHeader,
    MissingSecret,
    SignatureMismatch,
    TimestampOutOfRange,
    VerificationError,
)

SECRET = "secretValueTest"
NOW = 1_654_503_850.0
BODY = (
    b'{"event":"meeting.started","payload":{"account_id":"AAAAAABBBB","object":{"id":"1234567890",'
    b'"uuid":"4444AAAiAAAAAiAiAiiAii==","host_id":"x1yCzABCDEfg23HiJKl4mN","topic":"Demo","type":2}},'
    b'"event_ts":1654503849680}'
)
# Zoom docs, "Validate your webhook endpoint": the example challenge body.
VALIDATION = (
    b'{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}'
)


def sign(body: bytes, *, secret: str = SECRET, now: float = NOW) -> dict[str, str]:
    return verifiers.sign("zoom", secrets=[secret], body=body, now=now)


def test_url_validation_published_vector() -> None:
    # elastic/beats x-pack/filebeat/input/http_endpoint/handler_test.go ("validate_CRC_request"): secret
    # "secretValueTest", Zoom's documented plainToken, encryptedToken 70c1f2e2...40ff. Zoom publishes no
    # signature vector, so the request itself is signed by the helper.
    reply = verifiers.handshake("zoom", secrets=[SECRET], headers=sign(VALIDATION), body=VALIDATION, now=NOW)
    assert reply is not None
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert json.loads(reply.body) == {
        "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
        "encryptedToken": "70c1f2e2e6ca2d39297490d1f9142c7d701415ea8e6151f6562a08fa657a40ff",
    }


def test_url_validation_answers_with_the_secret_that_signed_it() -> None:
    headers = sign(VALIDATION, secret="old")
    reply = verifiers.handshake("zoom", secrets=["new", "old"], headers=headers, body=VALIDATION, now=NOW)
    assert reply is not None
    expected = hmac.new(b"old", b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
    assert json.loads(reply.body)["encryptedToken"] == expected


@pytest.mark.parametrize(
    ("headers", "body", "error"),
    [
        ({}, VALIDATION, MissingHeader),  # unsigned: answering would be an HMAC oracle
        (sign(VALIDATION, secret="attacker"), VALIDATION, SignatureMismatch),
        (sign(VALIDATION, now=NOW - 301), VALIDATION, TimestampOutOfRange),
        (
            sign(b'{"event":"endpoint.url_validation","payload":{}}'),
            b'{"event":"endpoint.url_validation","payload":{}}',
            MalformedBody,
        ),  # fmt: skip
    ],
)
def test_forged_or_broken_url_validation_rejected(
    headers: dict[str, str], body: bytes, error: type[VerificationError]
) -> None:
    with pytest.raises(error):
        verifiers.handshake("zoom", secrets=[SECRET], headers=headers, body=body, now=NOW)


def test_url_validation_with_lone_surrogate_token_is_malformed() -> None:
    body = b'{"event":"endpoint.url_validation","payload":{"plainToken":"\\ud800"}}'
    with pytest.raises(MalformedBody):
        verifiers.handshake("zoom", secrets=[SECRET], headers=sign(body), body=body, now=NOW)


def test_events_are_not_handshakes() -> None:
    assert verifiers.handshake("zoom", secrets=[SECRET], headers=sign(BODY), body=BODY, now=NOW) is None


def test_verify_signed_event() -> None:
    verifiers.verify("zoom", secrets=[SECRET], headers=sign(BODY), body=BODY, now=NOW)


def test_rotated_secret_accepted() -> None:
    verifiers.verify("zoom", secrets=["new", "old"], headers=sign(BODY, secret="old"), body=BODY, now=NOW)


SIGNED = sign(BODY)


@pytest.mark.parametrize(
    ("headers", "body", "kwargs", "error"),
    [
        (SIGNED, BODY + b" ", {}, SignatureMismatch),
        (SIGNED, BODY, {"secrets": ["wrong"]}, SignatureMismatch),
        ({**SIGNED, "x-zm-signature": SIGNED["x-zm-signature"][3:]}, BODY, {}, SignatureMismatch),
        (SIGNED, BODY, {"now": NOW + 301}, TimestampOutOfRange),
        (SIGNED, BODY, {"now": NOW - 301}, TimestampOutOfRange),
        ({"x-zm-signature": SIGNED["x-zm-signature"]}, BODY, {}, MissingHeader),
        ({"x-zm-request-timestamp": SIGNED["x-zm-request-timestamp"]}, BODY, {}, MissingHeader),
        ({**SIGNED, "x-zm-request-timestamp": "-1"}, BODY, {}, MalformedHeader),
        (SIGNED, BODY, {"secrets": []}, MissingSecret),
    ],
)
def test_rejects(headers: dict[str, str], body: bytes, kwargs: dict[str, Any], error: type[VerificationError]) -> None:
    args: dict[str, Any] = {"secrets": [SECRET], "now": NOW, **kwargs}
    with pytest.raises(error) as info:
        verifiers.verify("zoom", headers=headers, body=body, **args)
    assert info.value.reason == error.reason


def test_extract() -> None:
    assert verifiers.extract("zoom", headers=SIGNED, body=BODY) == [
        verifiers.EventInfo("AAAAAABBBB", "meeting.started", "")
    ]


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=256),
    sig=st.text(max_size=80),
    ts=st.text(max_size=20),
    token=st.text(max_size=40),
)
def test_only_verification_errors(body: bytes, sig: str, ts: str, token: str) -> None:
    headers = {"x-zm-signature": sig, "x-zm-request-timestamp": ts}
    validation = json.dumps({"event": "endpoint.url_validation", "payload": {"plainToken": token}}).encode()
    for candidate in (body, validation):
        for call in (verifiers.verify, verifiers.handshake):
            with contextlib.suppress(VerificationError):
                call("zoom", secrets=[SECRET], headers=headers, body=candidate, now=NOW)
        assert verifiers.extract("zoom", headers=headers, body=candidate)
    # A correctly signed challenge with any token: the handshake answers or raises a VerificationError.
    with contextlib.suppress(VerificationError):
        verifiers.handshake("zoom", secrets=[SECRET], headers=sign(validation), body=validation, now=NOW)
