from __future__ import annotations

import base64
import contextlib
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
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

# sendgrid/sendgrid-python test/unit/test_eventwebhook.py: verification key, signature, timestamp and
# payload (JSON with sorted keys and compact separators, plus the trailing CRLF SendGrid sends).
VECTOR_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpV"
    "KS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
)
VECTOR_SIGNATURE = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="
VECTOR_TIMESTAMP = "1600112502"
VECTOR_PAYLOAD = (
    b'[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address",'
    b'"sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",'
    b'"sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",'
    b'"smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]\r\n'
)
# The SDK's "bad key" and "bad signature" fixtures.
VECTOR_BAD_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXS"
    "JCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA=="
)
VECTOR_BAD_SIGNATURE = (
    "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0="
)

NOW = 1_700_000_000
_KEY = ec.generate_private_key(ec.SECP256R1())
_OTHER = ec.generate_private_key(ec.SECP256R1())


def verification_key(key: ec.EllipticCurvePrivateKey = _KEY) -> str:
    """The key as SendGrid's Mail Settings page shows it: base64 DER SubjectPublicKeyInfo."""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


SECRET = verification_key()


def sign(body: bytes, *, secret: ec.EllipticCurvePrivateKey = _KEY, now: int = NOW) -> dict[str, str]:
    """Headers SendGrid sends for ``body`` at ``now``."""
    pem = secret.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return verifiers.sign("sendgrid", secrets=[pem], body=body, now=now)


def _verify(headers: dict[str, str], body: bytes, *, secrets: list[str] | None = None, now: float = NOW) -> None:
    verifiers.verify("sendgrid", secrets=[SECRET] if secrets is None else secrets, headers=headers, body=body, now=now)


def _vector_headers(signature: str = VECTOR_SIGNATURE) -> dict[str, str]:
    return {
        "X-Twilio-Email-Event-Webhook-Signature": signature,
        "X-Twilio-Email-Event-Webhook-Timestamp": VECTOR_TIMESTAMP,
    }


def test_sdk_vector_verifies() -> None:
    _verify(_vector_headers(), VECTOR_PAYLOAD, secrets=[VECTOR_KEY], now=int(VECTOR_TIMESTAMP))


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "error"),
    [
        pytest.param(_vector_headers(), VECTOR_PAYLOAD, [VECTOR_BAD_KEY], SignatureMismatch, id="sdk-bad-key"),
        pytest.param(_vector_headers(), b"payload", [VECTOR_KEY], SignatureMismatch, id="sdk-bad-payload"),
        pytest.param(
            _vector_headers(VECTOR_BAD_SIGNATURE),
            VECTOR_PAYLOAD,
            [VECTOR_KEY],
            SignatureMismatch,
            id="sdk-bad-signature",
        ),
        pytest.param(
            {**_vector_headers(), "X-Twilio-Email-Event-Webhook-Timestamp": "timestamp"},
            VECTOR_PAYLOAD,
            [VECTOR_KEY],
            MalformedHeader,
            id="sdk-bad-timestamp",
        ),
        pytest.param(
            _vector_headers(), VECTOR_PAYLOAD.rstrip(), [VECTOR_KEY], SignatureMismatch, id="trailing-crlf-is-signed"
        ),
    ],
)
def test_sdk_negatives(
    headers: dict[str, str], body: bytes, secrets: list[str], error: type[VerificationError]
) -> None:
    with pytest.raises(error):
        _verify(headers, body, secrets=secrets, now=int(VECTOR_TIMESTAMP))


BODY = b'[{"email":"a@example.com","event":"delivered","sg_event_id":"ev1","timestamp":1699999990},{"email":"b@example.com","event":"open","sg_event_id":"ev2","timestamp":1699999995}]'  # noqa: E501
SIG_HEADER = "x-twilio-email-event-webhook-signature"
TS_HEADER = "x-twilio-email-event-webhook-timestamp"


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != name}


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "now", "error"),
    [
        pytest.param(sign(BODY), BODY + b" ", [SECRET], NOW, SignatureMismatch, id="tampered-body"),
        pytest.param(sign(BODY), BODY, [verification_key(_OTHER)], NOW, SignatureMismatch, id="wrong-key"),
        pytest.param(sign(BODY, now=NOW - 301), BODY, [SECRET], NOW, TimestampOutOfRange, id="stale"),
        pytest.param(sign(BODY, now=NOW + 301), BODY, [SECRET], NOW, TimestampOutOfRange, id="future"),
        pytest.param(_without(sign(BODY), SIG_HEADER), BODY, [SECRET], NOW, MissingHeader, id="missing-signature"),
        pytest.param(_without(sign(BODY), TS_HEADER), BODY, [SECRET], NOW, MissingHeader, id="missing-timestamp"),
        pytest.param({**sign(BODY), SIG_HEADER: "%%%"}, BODY, [SECRET], NOW, MalformedHeader, id="garbled-signature"),
        pytest.param({**sign(BODY), SIG_HEADER: "AAAA"}, BODY, [SECRET], NOW, SignatureMismatch, id="not-der"),
        pytest.param(sign(BODY), BODY, [], NOW, MissingSecret, id="no-secret"),
        pytest.param(sign(BODY), BODY, ["bm90IGEga2V5"], NOW, MissingSecret, id="secret-not-a-key"),
    ],
)
def test_rejects(
    headers: dict[str, str], body: bytes, secrets: list[str], now: float, error: type[VerificationError]
) -> None:
    with pytest.raises(error) as info:
        _verify(headers, body, secrets=secrets, now=now)
    assert info.value.reason == error.reason


def test_rotated_key_accepted() -> None:
    _verify(sign(BODY, secret=_OTHER), BODY, secrets=[SECRET, verification_key(_OTHER)])


def test_pem_key_accepted() -> None:
    pem = _KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    _verify(sign(BODY), BODY, secrets=[pem.decode()])


def test_no_handshake() -> None:
    assert verifiers.handshake("sendgrid", secrets=[SECRET], headers=sign(BODY), body=BODY, now=NOW) is None


def test_extract_splits_the_batch() -> None:
    infos = verifiers.extract("sendgrid", headers=sign(BODY), body=BODY)
    assert [(i.provider_id, i.event_type, i.delivery_id) for i in infos] == [
        ("", "delivered", "ev1"),
        ("", "open", "ev2"),
    ]
    assert [json.loads(i.body or b"") for i in infos] == json.loads(BODY)
    assert infos[0].body == b'{"email":"a@example.com","event":"delivered","sg_event_id":"ev1","timestamp":1699999990}'


def test_extract_vector_payload() -> None:
    [info] = verifiers.extract("sendgrid", headers={}, body=VECTOR_PAYLOAD)
    assert (info.event_type, info.delivery_id) == ("dropped", "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA")


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), sig=st.text(max_size=120), ts=st.text(max_size=20))
def test_only_verification_errors_escape(body: bytes, sig: str, ts: str) -> None:
    headers = {SIG_HEADER: sig, TS_HEADER: ts}
    with contextlib.suppress(VerificationError):
        _verify(headers, body)
    with contextlib.suppress(VerificationError):
        verifiers.handshake("sendgrid", secrets=[SECRET], headers=headers, body=body, now=NOW)
    assert verifiers.extract("sendgrid", headers=headers, body=body)
