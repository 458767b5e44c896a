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

# Typeform publishes no signed example (https://www.typeform.com/developers/webhooks/secure-your-webhooks/
# only describes the scheme), so the vectors below are produced by ``sign``; the known-answer test pins
# the base64-after-"sha256=" encoding against an independent computation.
SECRET = "typeform-webhook-secret"
BODY = json.dumps(
    {
        "event_id": "01HQ3Z8W2K",
        "event_type": "form_response",
        "form_response": {"form_id": "lT4Z3j", "token": "a3a12ec67a1365927098a606107fac15", "answers": []},
    },
    separators=(",", ":"),
).encode()


def sign(body: bytes, *, secret: str = SECRET) -> dict[str, str]:
    return verifiers.sign("typeform", secrets=[secret], body=body)


def _verify(headers: dict[str, str], body: bytes, *, secrets: list[str] | None = None) -> None:
    verifiers.verify("typeform", secrets=[SECRET] if secrets is None else secrets, headers=headers, body=body)


def test_known_answer() -> None:
    # HMAC-SHA256("secret", "hello") = 88aab3ede8d3adf94d26ab90d3bafd4a2083070c3bcce9c014ee04a443847c0b (hex).
    headers = {"Typeform-Signature": "sha256=iKqz7ejTrflNJquQ07r9SiCDBww7zOnAFO4EpEOEfAs="}
    verifiers.verify("typeform", secrets=["secret"], headers=headers, body=b"hello")
    assert sign(b"hello", secret="secret") == {"typeform-signature": headers["Typeform-Signature"]}


def test_sign_verifies() -> None:
    _verify(sign(BODY), BODY)


HEX_SIG = "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "error"),
    [
        pytest.param(sign(BODY), BODY + b"\n", [SECRET], SignatureMismatch, id="tampered-body"),
        pytest.param(sign(BODY), BODY, ["other"], SignatureMismatch, id="wrong-secret"),
        pytest.param({}, BODY, [SECRET], MissingHeader, id="missing-header"),
        pytest.param({"typeform-signature": ""}, BODY, [SECRET], MissingHeader, id="empty-header"),
        pytest.param({"typeform-signature": "sha256=***"}, BODY, [SECRET], SignatureMismatch, id="garbled"),
        pytest.param({"typeform-signature": HEX_SIG}, BODY, [SECRET], SignatureMismatch, id="hex-not-base64"),
        pytest.param(sign(BODY), BODY, [], MissingSecret, id="no-secret"),
    ],
)
def test_rejects(headers: dict[str, str], body: bytes, secrets: list[str], error: type[VerificationError]) -> None:
    with pytest.raises(error) as info:
        _verify(headers, body, secrets=secrets)
    assert info.value.reason == error.reason


def test_rotated_secret_accepted() -> None:
    _verify(sign(BODY, secret="old"), BODY, secrets=["new", "old"])


def test_no_handshake() -> None:
    assert verifiers.handshake("typeform", secrets=[SECRET], headers=sign(BODY), body=BODY) is None


def test_extract() -> None:
    [info] = verifiers.extract("typeform", headers=sign(BODY), body=BODY)
    assert info == verifiers.EventInfo("lT4Z3j", "form_response", "01HQ3Z8W2K")


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), sig=st.text(max_size=80))
def test_only_verification_errors_escape(body: bytes, sig: str) -> None:
    headers = {"typeform-signature": sig}
    with contextlib.suppress(VerificationError):
        _verify(headers, body)
    with contextlib.suppress(VerificationError):
        verifiers.handshake("typeform", secrets=[SECRET], headers=headers, body=body)
    assert verifiers.extract("typeform", headers=headers, body=body)
