from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime

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

# box/box-python-sdk test/box_sdk_gen/test/webhooks.py (testWebhookValidation): keys, headers and the
# signatures of six bodies. The SDK signs the \u-escaped JSON Box puts on the wire, so the bodies below
# are those wire bytes (non-ASCII escaped, "\\" and "\/" as sent).
PRIMARY = "SamplePrimaryKey"
SECONDARY = "SampleSecondaryKey"
VECTOR_TS = "2020-01-01T00:00:00-07:00"
VECTOR_NOW = datetime.fromisoformat(VECTOR_TS).timestamp()
_SOURCE = b'{"webhook":{"id":"1234567890"},"trigger":"FILE.UPLOADED","source":{"id":"1234567890","type":"file","name":"'
VECTORS = [
    pytest.param(
        b'{"type":"webhook_event","webhook":{"id":"1234567890"},"trigger":"FILE.UPLOADED",'
        b'"source":{"id":"1234567890","type":"file","name":"Test.txt"}}',
        "6TfeAW3A1PASkgboxxA5yqHNKOwFyMWuEXny/FPD5hI=",
        id="ascii",
    ),
    pytest.param(
        _SOURCE + rb'\u30b9\u30af\u30ea\u30fc\u30f3\u30b7\u30e7\u30c3\u30c8 2020-08-05.txt"}}',
        "LV2uCu+5NJtIHrCXDYgZ0v/PP5THGRuegw3RtdnEyuE=",
        id="japanese",
    ),
    pytest.param(
        _SOURCE + rb'\ud83d\ude00 2020-08-05.txt"}}', "xF/SDZosX4le+v4A0Qn59sZhuD1RqY5KRUKzVMSbh0E=", id="emoji"
    ),
    pytest.param(_SOURCE + rb'test \r"}}', "SVkbKgy3dEEf2PbbzpNu2lDZS7zZ/aboU7HOZgBGrJk=", id="carriage-return"),
    pytest.param(_SOURCE + rb'\/"}}', "t41PWT5ZB6OcysnD6SDy9Ud+p9hdXxIdXqcdweyZv/Q=", id="forward-slash"),
    pytest.param(_SOURCE + rb'\\"}}', "ERpMZwUQsGDTfj82ehdX6VvDZfvOhK5ULNfVmwVAGe0=", id="back-slash"),
]
VECTOR_SECONDARY_SIG = "v+1CD1Jdo3muIcbpv5lxxgPglOqMfsNHPV899xWYydo="  # secondary key over the ascii body

NOW = 1_700_000_000
BODY = json.dumps(
    {
        "type": "webhook_event",
        "id": "0f46a6ca-86bf-44ab-8cf5-f08e1e02876b",
        "created_by": {"type": "user", "id": "11446498"},
        "trigger": "FILE.UPLOADED",
        "webhook": {"id": "3572464", "type": "webhook"},
        "source": {"id": "12345", "type": "file", "name": "a.txt"},
    },
    separators=(",", ":"),
).encode()


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def sign(
    body: bytes,
    *,
    secret: str = PRIMARY,
    secondary: str | None = SECONDARY,
    now: float = NOW,
    delivery_id: str = "f96bb54b-ee16-4fc5-aa65-8c2d9e5b546f",
    timestamp: str | None = None,
) -> dict[str, str]:
    """Headers Box sends for ``body`` delivered at ``now`` (primary key, and the secondary if given).

    ``timestamp`` overrides the RFC 3339 spelling of ``now`` (Box may send any UTC offset).
    """
    headers = {"box-delivery-id": delivery_id, "box-delivery-timestamp": timestamp or _rfc3339(now)}
    secrets = [secret] if secondary is None else [secret, secondary]
    return verifiers.sign("box", secrets=secrets, body=body, now=now, headers=headers)


def _vector_headers(primary_sig: str) -> dict[str, str]:
    return {
        "box-delivery-id": "f96bb54b-ee16-4fc5-aa65-8c2d9e5b546f",
        "box-delivery-timestamp": VECTOR_TS,
        "box-signature-algorithm": "HmacSHA256",
        "box-signature-primary": primary_sig,
        "box-signature-secondary": VECTOR_SECONDARY_SIG,
        "box-signature-version": "1",
    }


def _verify(headers: dict[str, str], body: bytes, *, secrets: list[str] | None = None, now: float = NOW) -> None:
    verifiers.verify(
        "box", secrets=[PRIMARY, SECONDARY] if secrets is None else secrets, headers=headers, body=body, now=now
    )


@pytest.mark.parametrize(("body", "signature"), VECTORS)
def test_sdk_vectors_verify_with_primary_key(body: bytes, signature: str) -> None:
    _verify(_vector_headers(signature), body, secrets=[PRIMARY, "IncorrectKey"], now=VECTOR_NOW)


def test_sdk_vector_verifies_with_secondary_key_alone() -> None:
    body = VECTORS[0].values[0]
    assert isinstance(body, bytes)
    _verify(_vector_headers("x" * 44), body, secrets=["IncorrectKey", SECONDARY], now=VECTOR_NOW)


def test_sdk_vector_rejects_incorrect_keys() -> None:
    body = VECTORS[0].values[0]
    assert isinstance(body, bytes)
    with pytest.raises(SignatureMismatch):
        _verify(
            _vector_headers("6TfeAW3A1PASkgboxxA5yqHNKOwFyMWuEXny/FPD5hI="),
            body,
            secrets=["IncorrectKey"],
            now=VECTOR_NOW,
        )


def test_sign_reproduces_sdk_vector() -> None:
    body = VECTORS[0].values[0]
    assert isinstance(body, bytes)
    headers = sign(body, timestamp=VECTOR_TS)
    assert headers["box-signature-primary"] == "6TfeAW3A1PASkgboxxA5yqHNKOwFyMWuEXny/FPD5hI="
    assert headers["box-signature-secondary"] == VECTOR_SECONDARY_SIG


def _without(headers: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in names}


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "now", "error"),
    [
        pytest.param(sign(BODY), BODY + b" ", None, NOW, SignatureMismatch, id="tampered-body"),
        pytest.param(sign(BODY), BODY, ["wrong", "also-wrong"], NOW, SignatureMismatch, id="wrong-secret"),
        pytest.param(sign(BODY, now=NOW - 601), BODY, None, NOW, TimestampOutOfRange, id="stale"),
        pytest.param(sign(BODY, now=NOW + 61), BODY, None, NOW, TimestampOutOfRange, id="future"),
        pytest.param(
            _without(sign(BODY), "box-signature-primary", "box-signature-secondary"),
            BODY,
            None,
            NOW,
            MissingHeader,
            id="missing-signatures",
        ),
        pytest.param(_without(sign(BODY), "box-delivery-timestamp"), BODY, None, NOW, MissingHeader, id="missing-ts"),
        pytest.param(_without(sign(BODY), "box-signature-version"), BODY, None, NOW, MissingHeader, id="no-version"),
        pytest.param({**sign(BODY), "box-signature-version": "2"}, BODY, None, NOW, UnsupportedVersion, id="v2"),
        pytest.param(
            {**sign(BODY), "box-signature-algorithm": "HmacSHA1"}, BODY, None, NOW, UnsupportedVersion, id="sha1"
        ),
        pytest.param(
            {**sign(BODY), "box-delivery-timestamp": "yesterday"}, BODY, None, NOW, MalformedHeader, id="garbled-ts"
        ),
        pytest.param(
            {**sign(BODY), "box-delivery-timestamp": "2023-11-14T22:13:20"},
            BODY,
            None,
            NOW,
            MalformedHeader,
            id="ts-without-offset",
        ),
        pytest.param(
            {**sign(BODY), "box-delivery-timestamp": "2023-11-14"}, BODY, None, NOW, MalformedHeader, id="date-only"
        ),
        pytest.param(
            {**sign(BODY), "box-signature-primary": "%%%", "box-signature-secondary": "@@"},
            BODY,
            None,
            NOW,
            SignatureMismatch,
            id="garbled-sig",
        ),
        pytest.param(sign(BODY), BODY, [], NOW, MissingSecret, id="no-secret"),
        pytest.param(sign(BODY), BODY, ["", ""], NOW, MissingSecret, id="empty-secrets"),
    ],
)
def test_rejects(
    headers: dict[str, str], body: bytes, secrets: list[str] | None, now: float, error: type[VerificationError]
) -> None:
    with pytest.raises(error) as info:
        _verify(headers, body, secrets=secrets, now=now)
    assert info.value.reason == error.reason


def test_window_edges_accepted() -> None:
    _verify(sign(BODY, now=NOW - 600), BODY)
    _verify(sign(BODY, now=NOW + 60), BODY)


def test_rotated_secret_accepted() -> None:
    # Only the old key signed the primary header; the new key is listed first.
    _verify(sign(BODY, secret="old", secondary=None), BODY, secrets=["new", "old"])


def test_secondary_header_alone_accepted() -> None:
    headers = _without(sign(BODY, secret="unknown", secondary=SECONDARY), "box-signature-primary")
    _verify(headers, BODY)


def test_no_handshake() -> None:
    assert verifiers.handshake("box", secrets=[PRIMARY], headers=sign(BODY), body=BODY, now=NOW) is None


def test_extract() -> None:
    [info] = verifiers.extract("box", headers=sign(BODY, delivery_id="d-1"), body=BODY)
    assert info == verifiers.EventInfo("3572464", "FILE.UPLOADED", "d-1")


def test_extract_without_delivery_header_uses_event_id() -> None:
    [info] = verifiers.extract("box", headers={}, body=BODY)
    assert info.delivery_id == "0f46a6ca-86bf-44ab-8cf5-f08e1e02876b"


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=256),
    ts=st.text(max_size=40),
    primary=st.text(max_size=60),
    version=st.sampled_from(["1", "2", "", "x"]),
)
def test_only_verification_errors_escape(body: bytes, ts: str, primary: str, version: str) -> None:
    headers = {
        **sign(body),
        "box-delivery-timestamp": ts,
        "box-signature-primary": primary,
        "box-signature-version": version,
    }
    with contextlib.suppress(VerificationError):
        _verify(headers, body)
    with contextlib.suppress(VerificationError):
        verifiers.handshake("box", secrets=[PRIMARY], headers=headers, body=body, now=NOW)
    assert verifiers.extract("box", headers=headers, body=body)
