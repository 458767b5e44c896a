from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import MissingHeader, MissingSecret, SignatureMismatch, VerificationError

# Outreach publishes no signed example (developers.outreach.io shows only
# OpenSSL::HMAC.hexdigest("sha256", secret, body)), so requests are produced by ``sign``; the
# known-answer test pins hex SHA-256 with RFC 4231 test case 2.
SECRET = "outreach-webhook-secret"
BODY = json.dumps(
    {
        "data": {"type": "prospect", "id": 1, "attributes": {"firstName": "Ada"}},
        "meta": {"deliveredAt": "2024-01-01T00:00:00.000Z", "eventName": "prospect.updated"},
    },
    separators=(",", ":"),
).encode()


def sign(
    body: bytes, *, secret: str = SECRET, webhook_id: str = "4f3c2b1a-0000-4000-8000-000000000001"
) -> dict[str, str]:
    """Headers Outreach sends for ``body``."""
    headers = {"outreach-webhook-id": webhook_id, "content-type": "application/vnd.api+json"}
    return verifiers.sign("outreach", secrets=[secret], body=body, headers=headers)


def _verify(headers: dict[str, str], body: bytes, *, secrets: list[str] | None = None) -> None:
    verifiers.verify("outreach", secrets=[SECRET] if secrets is None else secrets, headers=headers, body=body)


def test_known_answer() -> None:
    headers = {"Outreach-Webhook-Signature": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"}
    verifiers.verify("outreach", secrets=["Jefe"], headers=headers, body=b"what do ya want for nothing?")
    assert (
        sign(b"what do ya want for nothing?", secret="Jefe")["outreach-webhook-signature"]
        == (headers["Outreach-Webhook-Signature"])
    )


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != name}


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "error"),
    [
        pytest.param(sign(BODY), BODY + b" ", [SECRET], SignatureMismatch, id="tampered-body"),
        pytest.param(sign(BODY), BODY, ["other"], SignatureMismatch, id="wrong-secret"),
        pytest.param(_without(sign(BODY), "outreach-webhook-signature"), BODY, [SECRET], MissingHeader, id="missing"),
        pytest.param({"outreach-webhook-signature": "zz"}, BODY, [SECRET], SignatureMismatch, id="garbled"),
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
    assert verifiers.handshake("outreach", secrets=[SECRET], headers=sign(BODY), body=BODY) is None


def test_extract() -> None:
    [info] = verifiers.extract("outreach", headers=sign(BODY, webhook_id="w-1"), body=BODY)
    assert info == verifiers.EventInfo("", "prospect.updated", "w-1")


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), sig=st.text(max_size=80))
def test_only_verification_errors_escape(body: bytes, sig: str) -> None:
    headers = {"outreach-webhook-signature": sig}
    with contextlib.suppress(VerificationError):
        _verify(headers, body)
    with contextlib.suppress(VerificationError):
        verifiers.handshake("outreach", secrets=[SECRET], headers=headers, body=body)
    assert verifiers.extract("outreach", headers=headers, body=body)
