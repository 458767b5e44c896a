from __future__ import annotations

import contextlib
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
    UnsupportedVersion,
    VerificationError,
)

# PaddleHQ/paddle-python-sdk tests/Unit/Notification/test_Verifier.py: header with a dummy h1 beside the
# real one, body "hello-world", three secrets of which only the third signed it.
VECTOR_HEADER = "ts=1696195954;h1=dummy;h1=d96299976a6eb066f484d7fde011ac56fc32b38fc9940bc419d6e537fdc6ef02"
VECTOR_BODY = b"hello-world"
VECTOR_SECRETS = [
    "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_TjIG2BXbm83HPXqNfziwe506sBEdqL/4",
    "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_vB/yIOnTOCWIvpBadM5jzBZPHc7OmdSo",
    "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_WvRO0eL4Bj9rgYYIBZY6wZhG4EHy9jzh",
]
VECTOR_NOW = 1696195954

SECRET = "pdl_ntfset_01hzq8y6p2e9x_k3y"
NOW = 1_700_000_000
BODY = json.dumps(
    {
        "event_id": "evt_01h8bzakzx3hm2fmen703n5q45",
        "event_type": "transaction.completed",
        "occurred_at": "2023-08-21T11:57:47.390028Z",
        "notification_id": "ntf_01h8bzam1z32agrxjwhjgqk8w6",
        "data": {"id": "txn_01h8bz8", "status": "completed"},
    },
    separators=(",", ":"),
).encode()


def sign(body: bytes, *, secret: str = SECRET, now: int = NOW, extra: str = "") -> dict[str, str]:
    """The Paddle-Signature header for ``body`` at ``now``; ``extra`` is appended (e.g. ";h1=<old>")."""
    headers = verifiers.sign("paddle", secrets=[secret], body=body, now=now)
    return {"paddle-signature": headers["paddle-signature"] + extra}


def _verify(headers: dict[str, str], body: bytes, *, secrets: list[str] | None = None, now: float = NOW) -> None:
    verifiers.verify("paddle", secrets=[SECRET] if secrets is None else secrets, headers=headers, body=body, now=now)


def test_sdk_vector_verifies() -> None:
    _verify({"Paddle-Signature": VECTOR_HEADER}, VECTOR_BODY, secrets=VECTOR_SECRETS, now=VECTOR_NOW)


def test_sdk_vector_needs_the_signing_secret() -> None:
    with pytest.raises(SignatureMismatch):
        _verify({"Paddle-Signature": VECTOR_HEADER}, VECTOR_BODY, secrets=VECTOR_SECRETS[:2], now=VECTOR_NOW)


def test_sign_reproduces_sdk_vector() -> None:
    header = sign(VECTOR_BODY, secret=VECTOR_SECRETS[2], now=VECTOR_NOW)["paddle-signature"]
    assert header == "ts=1696195954;h1=d96299976a6eb066f484d7fde011ac56fc32b38fc9940bc419d6e537fdc6ef02"


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "now", "error"),
    [
        pytest.param(sign(BODY), BODY + b" ", [SECRET], NOW, SignatureMismatch, id="tampered-body"),
        pytest.param(sign(BODY), BODY, ["pdl_other"], NOW, SignatureMismatch, id="wrong-secret"),
        pytest.param(sign(BODY, now=NOW - 6), BODY, [SECRET], NOW, TimestampOutOfRange, id="stale"),
        pytest.param(sign(BODY, now=NOW + 6), BODY, [SECRET], NOW, TimestampOutOfRange, id="future"),
        pytest.param({}, BODY, [SECRET], NOW, MissingHeader, id="missing-header"),
        pytest.param({"paddle-signature": "h1=abc"}, BODY, [SECRET], NOW, MalformedHeader, id="no-ts"),
        pytest.param({"paddle-signature": f"ts={NOW}"}, BODY, [SECRET], NOW, UnsupportedVersion, id="no-h1"),
        pytest.param(
            {"paddle-signature": f"ts=abc;h1={'0' * 64}"}, BODY, [SECRET], NOW, MalformedHeader, id="garbled-ts"
        ),
        pytest.param({"paddle-signature": f"ts={NOW};h1=%%"}, BODY, [SECRET], NOW, SignatureMismatch, id="garbled-h1"),
        pytest.param(sign(BODY), BODY, [], NOW, MissingSecret, id="no-secret"),
    ],
)
def test_rejects(
    headers: dict[str, str], body: bytes, secrets: list[str], now: float, error: type[VerificationError]
) -> None:
    with pytest.raises(error) as info:
        _verify(headers, body, secrets=secrets, now=now)
    assert info.value.reason == error.reason


def test_window_edges_accepted() -> None:
    _verify(sign(BODY, now=NOW - 5), BODY)
    _verify(sign(BODY, now=NOW + 5), BODY)


def test_rotated_secret_accepted() -> None:
    _verify(sign(BODY, secret="old"), BODY, secrets=["new", "old"])


def test_several_h1_entries_accepted() -> None:
    _verify(sign(BODY, extra=";h1=" + "f" * 64), BODY)


def test_no_handshake() -> None:
    assert verifiers.handshake("paddle", secrets=[SECRET], headers=sign(BODY), body=BODY, now=NOW) is None


def test_extract() -> None:
    [info] = verifiers.extract("paddle", headers=sign(BODY), body=BODY)
    assert info == verifiers.EventInfo("", "transaction.completed", "evt_01h8bzakzx3hm2fmen703n5q45")


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), header=st.text(max_size=120))
def test_only_verification_errors_escape(body: bytes, header: str) -> None:
    headers = {"paddle-signature": header}
    with contextlib.suppress(VerificationError):
        _verify(headers, body)
    with contextlib.suppress(VerificationError):
        verifiers.handshake("paddle", secrets=[SECRET], headers=headers, body=body, now=NOW)
    assert verifiers.extract("paddle", headers=headers, body=body)
