from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import MalformedHeader, MissingHeader, MissingSecret, SignatureMismatch, VerificationError

# DocuSign publishes no HMAC example with its key, so signatures here come from the sign helper:
# base64 HMAC-SHA256 of the raw body, one X-DocuSign-Signature-N header per key.
SECRET = "gWpXw9gGvMJ2QZ0rK1d3pZb1fS7kq0Jj8v6f3TgkH2s="
BODY = (
    b'{"event":"envelope-completed","apiVersion":"v2.1","uri":"/restapi/v2.1/accounts/a1/envelopes/e1",'
    b'"retryCount":0,"configurationId":10418,"generatedDateTime":"2024-01-01T00:00:00.000Z",\r\n'
    b'"data":{"accountId":"a1b2c3d4-0000-4000-8000-000000000001","userId":"u1","envelopeId":"e1"}}'
)


def sign(body: bytes, *, secret: str = SECRET, keys: tuple[str, ...] = ()) -> dict[str, str]:
    """One header per key, numbered from 1: ``secret`` first, then ``keys``."""
    return verifiers.sign("docusign", secrets=[secret, *keys], body=body)


def test_signed_request_verifies() -> None:
    verifiers.verify("docusign", secrets=[SECRET], headers=sign(BODY), body=BODY)


def test_any_numbered_header_may_match_any_secret() -> None:
    headers = sign(BODY, secret="other-key-1", keys=("other-key-2", "old"))
    verifiers.verify("docusign", secrets=["new", "old"], headers=headers, body=BODY)


def test_rotated_secret_accepted() -> None:
    verifiers.verify("docusign", secrets=["new", "old"], headers=sign(BODY, secret="old"), body=BODY)


def test_garbled_sibling_does_not_hide_a_match() -> None:
    headers = {**sign(BODY, secret="x", keys=(SECRET,)), "X-DocuSign-Signature-1": "%%%"}
    verifiers.verify("docusign", secrets=[SECRET], headers=headers, body=BODY)


@pytest.mark.parametrize(
    ("headers", "body", "kwargs", "error"),
    [
        (sign(BODY), BODY.replace(b"\r\n", b"\n"), {}, SignatureMismatch),
        (sign(BODY), BODY, {"secrets": ["wrong"]}, SignatureMismatch),
        (sign(BODY, secret="a", keys=("b", "c")), BODY, {}, SignatureMismatch),
        ({"X-DocuSign-Signature-1": "%%%"}, BODY, {}, MalformedHeader),
        ({"X-DocuSign-Signature-x": sign(BODY)["x-docusign-signature-1"]}, BODY, {}, MissingHeader),
        ({"X-DocuSign-Signature": sign(BODY)["x-docusign-signature-1"]}, BODY, {}, MissingHeader),
        ({}, BODY, {}, MissingHeader),
        (sign(BODY), BODY, {"secrets": []}, MissingSecret),
    ],
)
def test_rejects(headers: dict[str, str], body: bytes, kwargs: dict[str, Any], error: type[VerificationError]) -> None:
    args: dict[str, Any] = {"secrets": [SECRET], **kwargs}
    with pytest.raises(error) as info:
        verifiers.verify("docusign", headers=headers, body=body, **args)
    assert info.value.reason == error.reason


def test_no_handshake() -> None:
    assert verifiers.handshake("docusign", secrets=[SECRET], headers=sign(BODY), body=BODY) is None


def test_extract() -> None:
    assert verifiers.extract("docusign", headers=sign(BODY), body=BODY) == [
        verifiers.EventInfo("a1b2c3d4-0000-4000-8000-000000000001", "envelope-completed", "")
    ]


def test_extract_xml_payload_is_empty() -> None:
    assert verifiers.extract("docusign", headers={}, body=b"<DocuSignEnvelopeInformation/>") == [verifiers.EventInfo()]


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), sigs=st.lists(st.text(max_size=60), max_size=3))
def test_only_verification_errors(body: bytes, sigs: list[str]) -> None:
    headers = {f"x-docusign-signature-{n}": sig for n, sig in enumerate(sigs, start=1)}
    for call in (verifiers.verify, verifiers.handshake):
        with contextlib.suppress(VerificationError):
            call("docusign", secrets=[SECRET], headers=headers, body=body)
    assert verifiers.extract("docusign", headers=headers, body=body)
