from __future__ import annotations

import contextlib
import hashlib
import hmac
import json

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
    VerificationError,
)

# Close publishes no signed example (developer.close.com/topics/webhooks/); tests sign with sign().
# The point worth pinning is that the signature_key is hex-decoded before use.
SECRET = "a1" * 32
NOW = 1_700_000_000
BODY = json.dumps(
    {
        "subscription_id": "whsub_5EXq6dSmxzK4Wz1ZFqYAt",
        "event": {
            "id": "ev_4iYbH4C1DgFGuSfqdFgHqP",
            "organization_id": "orga_XbVPx5fFbKlYTz9PW5Ih1XDhViV10YihIaEgMEb6fVW",
            "object_type": "lead",
            "action": "created",
            "date_created": "2023-11-14T22:13:20.000000",
            "data": {"id": "lead_1"},
        },
    }
).encode()


def sign(body: bytes, *, secret: str = SECRET, now: int = NOW) -> dict[str, str]:
    return verifiers.sign("close", secrets=[secret], body=body, now=now)


def _verify(headers: dict[str, str], body: bytes = BODY, *, secrets: list[str] | None = None, now: float = NOW) -> None:
    verifiers.verify("close", secrets=[SECRET] if secrets is None else secrets, headers=headers, body=body, now=now)


def test_valid() -> None:
    _verify(sign(BODY))


def test_key_is_hex_decoded_not_used_literally() -> None:
    literal = hmac.new(SECRET.encode(), str(NOW).encode() + BODY, hashlib.sha256).hexdigest()
    with pytest.raises(SignatureMismatch):
        _verify({"close-sig-hash": literal, "close-sig-timestamp": str(NOW)})


def test_uppercase_hex_signature_accepted() -> None:
    headers = sign(BODY)
    _verify({**headers, "close-sig-hash": headers["close-sig-hash"].upper()})


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "now", "error"),
    [
        pytest.param(sign(BODY), BODY + b" ", [SECRET], NOW, SignatureMismatch, id="tampered-body"),
        pytest.param(sign(BODY), BODY, ["b2" * 32], NOW, SignatureMismatch, id="wrong-secret"),
        pytest.param(sign(BODY, now=NOW - 301), BODY, [SECRET], NOW, TimestampOutOfRange, id="stale"),
        pytest.param(sign(BODY, now=NOW + 301), BODY, [SECRET], NOW, TimestampOutOfRange, id="future"),
        pytest.param({"close-sig-timestamp": str(NOW)}, BODY, [SECRET], NOW, MissingHeader, id="missing-hash"),
        pytest.param({"close-sig-hash": "00"}, BODY, [SECRET], NOW, MissingHeader, id="missing-timestamp"),
        pytest.param({**sign(BODY), "close-sig-timestamp": "now"}, BODY, [SECRET], NOW, MalformedHeader, id="bad-ts"),
        pytest.param({**sign(BODY), "close-sig-hash": "zz"}, BODY, [SECRET], NOW, SignatureMismatch, id="garbled"),
        pytest.param(sign(BODY), BODY, ["not-hex"], NOW, MissingSecret, id="secret-not-hex"),
        pytest.param(sign(BODY), BODY, [], NOW, MissingSecret, id="no-secret"),
    ],
)
def test_rejects(
    headers: dict[str, str], body: bytes, secrets: list[str], now: float, error: type[VerificationError]
) -> None:
    with pytest.raises(error) as info:
        _verify(headers, body, secrets=secrets, now=now)
    assert info.value.reason == error.reason


def test_rotated_secret_accepted() -> None:
    old = "c3" * 32
    _verify(sign(BODY, secret=old), secrets=["d4" * 32, old])


def test_a_mistyped_secret_does_not_hide_the_good_one() -> None:
    _verify(sign(BODY), secrets=["oops", SECRET])


def test_no_handshake() -> None:
    assert verifiers.handshake("close", secrets=[SECRET], headers=sign(BODY), body=BODY, now=NOW) is None


def test_extract() -> None:
    [info] = verifiers.extract("close", headers=sign(BODY), body=BODY)
    assert info == verifiers.EventInfo(
        "orga_XbVPx5fFbKlYTz9PW5Ih1XDhViV10YihIaEgMEb6fVW", "lead.created", "ev_4iYbH4C1DgFGuSfqdFgHqP"
    )


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), sig=st.text(max_size=80), ts=st.text(max_size=20))
def test_only_verification_errors_escape(body: bytes, sig: str, ts: str) -> None:
    headers = {"close-sig-hash": sig, "close-sig-timestamp": ts}
    for call in (verifiers.verify, verifiers.handshake):
        with contextlib.suppress(VerificationError):
            call("close", secrets=[SECRET, "zz"], headers=headers, body=body, now=NOW)
    verifiers.extract("close", headers=headers, body=body)
