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
from verifiers import MalformedBody, MissingSecret, SignatureMismatch, TimestampOutOfRange, VerificationError

# Lever publishes no signed example (https://hire.lever.co/developer/documentation#webhooks describes
# HMAC-SHA256(signature token, token + triggeredAt) only), so payloads are produced by ``sign``.
SECRET = "lever-signature-token"
NOW = 1_700_000_000
TOKEN = "3f6f7a5a4b6d4c2f8e1d0c9b8a7f6e5d"


def sign(
    body: bytes = b"",
    *,
    secret: str = SECRET,
    now: float = NOW,
    token: str = TOKEN,
    event: str = "candidateStageChange",
    **fields: Any,
) -> bytes:
    """The JSON body Lever posts (the signature travels in the body, so this returns the body, not headers).

    ``body`` is ignored unless non-empty, in which case it is parsed and its ``data`` kept. ``fields``
    are set after signing (``None`` removes one), to forge or break what was signed.
    """
    data = json.loads(body)["data"] if body else {"candidateId": "c-1", "toStageId": "s-2"}
    unsigned = json.dumps({"event": event, "id": "evt-1", "token": token, "data": data}).encode()
    payload = json.loads(verifiers.sign_request("lever", secrets=[secret], body=unsigned, now=now).body)
    payload.update(token=token, **fields)  # an empty token is kept as given: the signer would make up one
    return json.dumps({k: v for k, v in payload.items() if v is not None}).encode()


def _verify(body: bytes, *, secrets: list[str] | None = None, now: float = NOW) -> None:
    verifiers.verify("lever", secrets=[SECRET] if secrets is None else secrets, headers={}, body=body, now=now)


def test_signed_string_is_token_then_milliseconds() -> None:
    # Pins the concatenation rule independently of ``sign``: token, then triggeredAt in decimal ms, no separator.
    body = sign(token="abc", now=1_600_000_000.123)
    payload = json.loads(body)
    expected = hmac.new(SECRET.encode(), b"abc1600000000123", hashlib.sha256).hexdigest()
    assert payload["signature"] == expected
    _verify(body, now=1_600_000_000)


def test_signed_body_verifies() -> None:
    _verify(sign())


@pytest.mark.parametrize(
    ("body", "secrets", "now", "error"),
    [
        pytest.param(sign(signature=None), [SECRET], NOW, MalformedBody, id="no-signature"),
        pytest.param(
            json.dumps({**json.loads(sign()), "token": "forged"}).encode(),
            [SECRET],
            NOW,
            SignatureMismatch,
            id="tampered-token",
        ),
        pytest.param(
            json.dumps({**json.loads(sign()), "triggeredAt": NOW * 1000 + 1}).encode(),
            [SECRET],
            NOW,
            SignatureMismatch,
            id="tampered-triggered-at",
        ),
        pytest.param(sign(), ["other"], NOW, SignatureMismatch, id="wrong-secret"),
        pytest.param(sign(now=NOW - 301), [SECRET], NOW, TimestampOutOfRange, id="stale"),
        pytest.param(sign(now=NOW + 301), [SECRET], NOW, TimestampOutOfRange, id="future"),
        pytest.param(sign(triggeredAt="yesterday"), [SECRET], NOW, MalformedBody, id="garbled-triggered-at"),
        pytest.param(sign(triggeredAt=True), [SECRET], NOW, MalformedBody, id="boolean-triggered-at"),
        pytest.param(sign(token=""), [SECRET], NOW, MalformedBody, id="empty-token"),
        pytest.param(b"not json", [SECRET], NOW, MalformedBody, id="not-json"),
        pytest.param(b"[]", [SECRET], NOW, MalformedBody, id="not-an-object"),
        pytest.param(sign(), [], NOW, MissingSecret, id="no-secret"),
    ],
)
def test_rejects(body: bytes, secrets: list[str], now: float, error: type[VerificationError]) -> None:
    with pytest.raises(error) as info:
        _verify(body, secrets=secrets, now=now)
    assert info.value.reason == error.reason


def test_window_edges_accepted() -> None:
    _verify(sign(now=NOW - 300))
    _verify(sign(now=NOW + 300))


def test_rotated_secret_accepted() -> None:
    _verify(sign(secret="old"), secrets=["new", "old"])


def test_no_handshake() -> None:
    assert verifiers.handshake("lever", secrets=[SECRET], headers={}, body=sign(), now=NOW) is None


def test_extract_uses_single_use_token_as_delivery_id() -> None:
    [info] = verifiers.extract("lever", headers={}, body=sign())
    assert info == verifiers.EventInfo("", "candidateStageChange", TOKEN)


@settings(max_examples=200, deadline=None)
@given(
    body=st.one_of(
        st.binary(max_size=256),
        st.builds(
            lambda t, s, x: json.dumps({"token": t, "signature": s, "triggeredAt": x}).encode(),
            st.text(max_size=20),
            st.text(max_size=70),
            st.one_of(st.integers(), st.floats(allow_nan=True), st.text(max_size=5), st.none()),
        ),
    )
)
def test_only_verification_errors_escape(body: bytes) -> None:
    with contextlib.suppress(VerificationError):
        _verify(body)
    with contextlib.suppress(VerificationError):
        verifiers.handshake("lever", secrets=[SECRET], headers={}, body=body, now=NOW)
    assert verifiers.extract("lever", headers={}, body=body)
