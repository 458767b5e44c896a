"""PayPal: the RSA signature, and the certificate chain that vouches for its key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import verifiers
from tests.verifiers.catalog_samples import PAYPAL_INTERMEDIATE, PAYPAL_LEAF, PAYPAL_ROOT, SAMPLES
from tests.verifiers.pki import issue
from verifiers import MalformedHeader, MissingSecret, SignatureMismatch, UnsupportedVersion, VerificationError
from verifiers.paypal import signed_string

NOW = 1_700_000_000
WEBHOOK_ID = "webhook_id=1JE4291016473214C"
BODY = SAMPLES["paypal"].body
CHAIN = "cert=" + PAYPAL_LEAF.cert_pem + PAYPAL_INTERMEDIATE.cert_pem


def signed(**headers: str) -> dict[str, str]:
    return verifiers.sign("paypal", secrets=[PAYPAL_LEAF.key_pem, WEBHOOK_ID], body=BODY, now=NOW, headers=headers)


def verify(headers: dict[str, str], *secrets: str, body: bytes = BODY) -> None:
    verifiers.verify(
        "paypal",
        secrets=list(secrets) or [WEBHOOK_ID, PAYPAL_ROOT.cert_pem, CHAIN],
        headers=headers,
        body=body,
        now=NOW,
    )


def test_signed_string_uses_the_unsigned_crc32_of_the_body() -> None:
    # crc32(b"hello") = 907060870; the signed string is id|time|webhook id|crc, pipes and all.
    assert signed_string("t-1", "2023-11-14T22:13:20Z", "WH", b"hello") == b"t-1|2023-11-14T22:13:20Z|WH|907060870"


def test_signed_request_verifies() -> None:
    verify(signed())


@pytest.mark.parametrize(
    ("secrets", "error"),
    [
        ((WEBHOOK_ID, PAYPAL_ROOT.cert_pem), MissingSecret),  # no certificate fetched
        ((PAYPAL_ROOT.cert_pem, CHAIN), MissingSecret),  # no webhook id
        ((WEBHOOK_ID, CHAIN), MissingSecret),  # no trusted root
        ((WEBHOOK_ID, issue("Another Root", ca=True).cert_pem, CHAIN), SignatureMismatch),
        ((WEBHOOK_ID, PAYPAL_ROOT.cert_pem, "cert=" + PAYPAL_LEAF.cert_pem), SignatureMismatch),  # no intermediate
        (("webhook_id=WH-OTHER", PAYPAL_ROOT.cert_pem, CHAIN), SignatureMismatch),
    ],
    ids=["no-cert", "no-webhook-id", "no-root", "untrusted-root", "broken-chain", "other-webhook"],
)
def test_configuration_and_chain_failures(secrets: tuple[str, ...], error: type[VerificationError]) -> None:
    with pytest.raises(error):
        verify(signed(), *secrets)


def test_a_certificate_for_another_name_is_refused() -> None:
    impostor = issue("attacker.example.com", PAYPAL_INTERMEDIATE)
    headers = verifiers.sign("paypal", secrets=[impostor.key_pem, WEBHOOK_ID], body=BODY, now=NOW)
    with pytest.raises(SignatureMismatch):
        verify(headers, WEBHOOK_ID, PAYPAL_ROOT.cert_pem, "cert=" + impostor.cert_pem + PAYPAL_INTERMEDIATE.cert_pem)


def test_an_expired_certificate_is_refused() -> None:
    old = issue(
        "messageverificationcerts.paypal.com",
        PAYPAL_INTERMEDIATE,
        not_after=datetime(2021, 1, 1, tzinfo=UTC),
    )
    headers = verifiers.sign("paypal", secrets=[old.key_pem, WEBHOOK_ID], body=BODY, now=NOW)
    with pytest.raises(SignatureMismatch):
        verify(headers, WEBHOOK_ID, PAYPAL_ROOT.cert_pem, "cert=" + old.cert_pem + PAYPAL_INTERMEDIATE.cert_pem)


@pytest.mark.parametrize(
    ("header", "value", "error"),
    [
        ("paypal-cert-url", "https://evil.example.com/cert.pem", MalformedHeader),
        ("paypal-cert-url", "http://api.paypal.com/cert.pem", MalformedHeader),
        ("paypal-auth-algo", "SHA1withRSA", UnsupportedVersion),
        ("paypal-transmission-time", "yesterday", MalformedHeader),
    ],
)
def test_header_checks(header: str, value: str, error: type[VerificationError]) -> None:
    with pytest.raises(error):
        verify({**signed(), header: value})


def test_tampered_body_fails() -> None:
    with pytest.raises(SignatureMismatch):
        verify(signed(), body=BODY.replace(b"COMPLETED", b"DENIED"))
