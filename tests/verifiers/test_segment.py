from __future__ import annotations

import contextlib
import hashlib
import hmac
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import MissingHeader, MissingSecret, SignatureMismatch, VerificationError

# Segment publishes no signed example (https://segment.com/docs/connections/destinations/catalog/webhooks/
# states the scheme only), so requests are produced by ``sign``; the known-answer test pins hex SHA-1.
SECRET = "segment-shared-secret"
BODY = json.dumps(
    {
        "type": "track",
        "event": "Order Completed",
        "messageId": "ajs-next-1700000000000-abc",
        "projectId": "proj_123",
        "userId": "u1",
        "properties": {"total": 10},
    },
    separators=(",", ":"),
).encode()


def sign(body: bytes, *, secret: str = SECRET) -> dict[str, str]:
    return verifiers.sign("segment", secrets=[secret], body=body)


def _verify(headers: dict[str, str], body: bytes, *, secrets: list[str] | None = None) -> None:
    verifiers.verify("segment", secrets=[SECRET] if secrets is None else secrets, headers=headers, body=body)


def test_known_answer() -> None:
    # RFC 2202 test case 2: HMAC-SHA1("Jefe", "what do ya want for nothing?").
    headers = {"X-Signature": "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"}
    verifiers.verify("segment", secrets=["Jefe"], headers=headers, body=b"what do ya want for nothing?")
    assert sign(b"what do ya want for nothing?", secret="Jefe")["x-signature"] == headers["X-Signature"]


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "error"),
    [
        pytest.param(sign(BODY), BODY + b" ", [SECRET], SignatureMismatch, id="tampered-body"),
        pytest.param(sign(BODY), BODY, ["other"], SignatureMismatch, id="wrong-secret"),
        pytest.param({}, BODY, [SECRET], MissingHeader, id="missing-header"),
        pytest.param({"x-signature": "not-hex"}, BODY, [SECRET], SignatureMismatch, id="garbled"),
        pytest.param(
            {"x-signature": hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()},
            BODY,
            [SECRET],
            SignatureMismatch,
            id="sha256-not-sha1",
        ),
        pytest.param(sign(BODY), BODY, [""], MissingSecret, id="no-secret"),
    ],
)
def test_rejects(headers: dict[str, str], body: bytes, secrets: list[str], error: type[VerificationError]) -> None:
    with pytest.raises(error) as info:
        _verify(headers, body, secrets=secrets)
    assert info.value.reason == error.reason


def test_rotated_secret_accepted() -> None:
    _verify(sign(BODY, secret="old"), BODY, secrets=["new", "old"])


def test_uppercase_hex_accepted() -> None:
    _verify({"x-signature": sign(BODY)["x-signature"].upper()}, BODY)


def test_no_handshake() -> None:
    assert verifiers.handshake("segment", secrets=[SECRET], headers=sign(BODY), body=BODY) is None


def test_extract_track_uses_event_name() -> None:
    [info] = verifiers.extract("segment", headers=sign(BODY), body=BODY)
    assert info == verifiers.EventInfo("proj_123", "Order Completed", "ajs-next-1700000000000-abc")


def test_extract_identify_uses_type() -> None:
    body = b'{"type":"identify","messageId":"m2","userId":"u1","traits":{}}'
    [info] = verifiers.extract("segment", headers=sign(body), body=body)
    assert info == verifiers.EventInfo("", "identify", "m2")


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), sig=st.text(max_size=80))
def test_only_verification_errors_escape(body: bytes, sig: str) -> None:
    headers = {"x-signature": sig}
    with contextlib.suppress(VerificationError):
        _verify(headers, body)
    with contextlib.suppress(VerificationError):
        verifiers.handshake("segment", secrets=[SECRET], headers=headers, body=body)
    assert verifiers.extract("segment", headers=headers, body=body)
