from __future__ import annotations

import base64
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
    VerificationError,
)

# Zendesk publishes no signed example with a body. It documents a static secret used for deliveries
# sent from the webhook builder before the webhook exists (developer.zendesk.com/documentation/
# webhooks/verifying/); it is used as a literal key, so the tests below sign with it via sign().
TEST_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
SECRET = "zendesk-signing-secret"
NOW = 1_700_000_000
BODY = json.dumps(
    {
        "account_id": 12514403,
        "detail": {"id": "35436", "subject": "Help"},
        "id": "cbe4028c-7239-495d-b020-f22348516046",
        "subject": "zen:ticket:35436",
        "time": "2023-11-14T22:13:20Z",
        "type": "zen:event-type:ticket.created",
        "zendesk_event_version": "2022-11-06",
    }
).encode()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sign(body: bytes, *, secret: str = SECRET, now: float = NOW, timestamp: str | None = None) -> dict[str, str]:
    """Headers Zendesk sends: base64 HMAC-SHA256 over timestamp + body, ISO timestamp by default."""
    headers = {
        "x-zendesk-webhook-signature-timestamp": iso(now) if timestamp is None else timestamp,
        "x-zendesk-webhook-id": "01GAB",
        "x-zendesk-webhook-invocation-id": "8350205582",
    }
    return verifiers.sign("zendesk", secrets=[secret], body=body, now=now, headers=headers)


def _verify(headers: dict[str, str], body: bytes = BODY, *, secrets: list[str] | None = None, now: float = NOW) -> None:
    verifiers.verify("zendesk", secrets=[SECRET] if secrets is None else secrets, headers=headers, body=body, now=now)


def test_static_test_secret_is_used_literally() -> None:
    assert base64.b64decode(TEST_SECRET) == b"this_secret_is_for_testing_only"
    _verify(sign(BODY, secret=TEST_SECRET), secrets=[TEST_SECRET])
    with pytest.raises(SignatureMismatch):
        _verify(sign(BODY, secret="this_secret_is_for_testing_only"), secrets=[TEST_SECRET])


def test_valid_with_iso_and_unix_timestamps() -> None:
    _verify(sign(BODY))
    _verify(sign(BODY, timestamp="2023-11-14T22:13:20+00:00"))
    _verify(sign(BODY, timestamp=str(NOW)))


def test_empty_body_of_a_get_webhook() -> None:
    verifiers.verify("zendesk", secrets=[SECRET], headers=sign(b""), body=b"", method="GET", now=NOW)


def test_naive_timestamp_is_read_as_utc() -> None:
    _verify(sign(BODY, timestamp=iso(NOW).rstrip("Z")))


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "now", "error"),
    [
        pytest.param(sign(BODY), BODY + b" ", [SECRET], NOW, SignatureMismatch, id="tampered-body"),
        pytest.param(sign(BODY), BODY, ["other"], NOW, SignatureMismatch, id="wrong-secret"),
        pytest.param(sign(BODY, now=NOW - 301), BODY, [SECRET], NOW, TimestampOutOfRange, id="stale"),
        pytest.param(sign(BODY, now=NOW + 301), BODY, [SECRET], NOW, TimestampOutOfRange, id="future"),
        pytest.param(
            {k: v for k, v in sign(BODY).items() if k != "x-zendesk-webhook-signature"},
            BODY,
            [SECRET],
            NOW,
            MissingHeader,
            id="missing-signature",
        ),
        pytest.param(
            {k: v for k, v in sign(BODY).items() if k != "x-zendesk-webhook-signature-timestamp"},
            BODY,
            [SECRET],
            NOW,
            MissingHeader,
            id="missing-timestamp",
        ),
        pytest.param(sign(BODY, timestamp="yesterday"), BODY, [SECRET], NOW, MalformedHeader, id="garbled-timestamp"),
        pytest.param(
            sign(BODY, timestamp="２０２３-11-14T22:13:20Z"), BODY, [SECRET], NOW, MalformedHeader, id="non-ascii-ts"
        ),
        pytest.param(
            {**sign(BODY), "x-zendesk-webhook-signature": "%%%"}, BODY, [SECRET], NOW, SignatureMismatch, id="garbled"
        ),
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
    _verify(sign(BODY, secret="old"), secrets=["new", "old"])


def test_timestamp_is_signed() -> None:
    headers = {**sign(BODY), "x-zendesk-webhook-signature-timestamp": iso(NOW + 1)}
    with pytest.raises(SignatureMismatch):
        _verify(headers)


def test_no_handshake() -> None:
    assert verifiers.handshake("zendesk", secrets=[SECRET], headers=sign(BODY), body=BODY, now=NOW) is None


def test_extract_event_subscription() -> None:
    [info] = verifiers.extract("zendesk", headers=sign(BODY), body=BODY)
    assert info == verifiers.EventInfo(
        "12514403", "zen:event-type:ticket.created", "cbe4028c-7239-495d-b020-f22348516046"
    )


def test_extract_trigger_webhook_falls_back_to_headers() -> None:
    body = b'{"ticket": {"id": 7}}'
    headers = {**sign(body), "x-zendesk-account-id": "99"}
    [info] = verifiers.extract("zendesk", headers=headers, body=body)
    assert info == verifiers.EventInfo("99", "", "8350205582")


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=256),
    sig=st.text(max_size=80),
    ts=st.one_of(st.text(max_size=40), st.just(iso(NOW)), st.just("9" * 40), st.just("0001-01-01T00:00:00+14:00")),
)
def test_only_verification_errors_escape(body: bytes, sig: str, ts: str) -> None:
    headers = {"x-zendesk-webhook-signature": sig, "x-zendesk-webhook-signature-timestamp": ts}
    for call in (verifiers.verify, verifiers.handshake):
        with contextlib.suppress(VerificationError):
            call("zendesk", secrets=[SECRET], headers=headers, body=body, now=NOW)
    verifiers.extract("zendesk", headers=headers, body=body)
