"""Details checked against providers' own SDKs and documentation where they publish no signed example."""

from __future__ import annotations

import hashlib
import hmac

import pytest

import verifiers
from verifiers import SignatureMismatch

# Mollie: the inputs of mollie/mollie-api-php tests/Webhooks/SignatureValidatorTest.php (commit 0ab576ed);
# that test computes its signatures, so we do too.
MOLLIE_SECRET, MOLLIE_ALTERNATE = "test_webhook_secret", "alternate_webhook_secret"
MOLLIE_PAYLOAD = b'{"id":"tr_12345","event_type":"payment-link.paid"}'


def mollie_hex(secret: str) -> str:
    return hmac.new(secret.encode(), MOLLIE_PAYLOAD, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    "header",
    [
        f"sha256={mollie_hex(MOLLIE_SECRET)}",  # verifies_valid_signature_with_prefix
        mollie_hex(MOLLIE_SECRET),  # verifies_valid_signature (bare hex)
        f"sha256={mollie_hex('invalid_secret')}, sha256={mollie_hex(MOLLIE_SECRET)}",  # one value per secret
        f"invalid_signature,{mollie_hex(MOLLIE_SECRET)},another_invalid_signature",  # ..._different_header_formats
    ],
)
def test_mollie_accepts_what_its_sdk_accepts(header: str) -> None:
    headers = {"X-Mollie-Signature": header}
    verifiers.verify("mollie", secrets=[MOLLIE_SECRET], headers=headers, body=MOLLIE_PAYLOAD)


def test_mollie_accepts_either_secret_during_a_rotation() -> None:
    for secret in (MOLLIE_SECRET, MOLLIE_ALTERNATE):
        headers = {"X-Mollie-Signature": f"sha256={mollie_hex(secret)}"}
        verifiers.verify("mollie", secrets=[MOLLIE_SECRET, MOLLIE_ALTERNATE], headers=headers, body=MOLLIE_PAYLOAD)


@pytest.mark.parametrize("header", ["invalid_signature", f"sha256={mollie_hex('other')}", "sha256=, ,"])
def test_mollie_rejects_what_its_sdk_rejects(header: str) -> None:
    with pytest.raises(SignatureMismatch):
        verifiers.verify("mollie", secrets=[MOLLIE_SECRET], headers={"X-Mollie-Signature": header}, body=MOLLIE_PAYLOAD)


def test_mollie_signer_sends_the_prefixed_form() -> None:
    signed = verifiers.sign("mollie", secrets=[MOLLIE_SECRET], body=MOLLIE_PAYLOAD)
    assert signed == {"x-mollie-signature": f"sha256={mollie_hex(MOLLIE_SECRET)}"}
