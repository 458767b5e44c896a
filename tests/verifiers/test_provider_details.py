"""Details checked against providers' own SDKs and documentation where they publish no signed example."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

import verifiers
from verifiers import MalformedHeader, SignatureMismatch
from verifiers._hmac import b64digest_strict

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


# Klaviyo: developers.klaviyo.com "Working with system webhooks": the body's meta.klaviyo_webhook_id "must match the
# Klaviyo-Webhook-Id request header"; the signed string is the raw body followed by Klaviyo-Timestamp.
KLAVIYO_SECRET = "klaviyo-secret-key-16+"
KLAVIYO_TS = "2024-04-30T18:17:45Z"
KLAVIYO_BODY = (
    b'{"data":[{"topic":"event:klaviyo.sent_sms","external_id":"5e1c7d","payload":{}}],'
    b'"meta":{"klaviyo_account_id":"XyZ123","klaviyo_webhook_id":"01HWMK0XQ2B8C9X0QMJ7N6G6ZK",'
    b'"timestamp":"2024-04-30T18:17:45Z"}}'
)
KLAVIYO_NOW = 1714501065  # 2024-04-30T18:17:45Z


def klaviyo_headers(**extra: str) -> dict[str, str]:
    signature = hmac.new(KLAVIYO_SECRET.encode(), KLAVIYO_BODY + KLAVIYO_TS.encode(), hashlib.sha256).hexdigest()
    return {"Klaviyo-Signature": signature, "Klaviyo-Timestamp": KLAVIYO_TS, **extra}


def test_klaviyo_signed_string_is_body_then_timestamp() -> None:
    headers = klaviyo_headers(**{"Klaviyo-Webhook-Id": "01HWMK0XQ2B8C9X0QMJ7N6G6ZK"})
    verifiers.verify("klaviyo", secrets=[KLAVIYO_SECRET], headers=headers, body=KLAVIYO_BODY, now=KLAVIYO_NOW)
    swapped = hmac.new(KLAVIYO_SECRET.encode(), KLAVIYO_TS.encode() + KLAVIYO_BODY, hashlib.sha256).hexdigest()
    with pytest.raises(SignatureMismatch):
        verifiers.verify(
            "klaviyo",
            secrets=[KLAVIYO_SECRET],
            headers={**headers, "Klaviyo-Signature": swapped},
            body=KLAVIYO_BODY,
            now=KLAVIYO_NOW,
        )


def test_klaviyo_webhook_id_header_must_match_the_signed_meta() -> None:
    headers = klaviyo_headers(**{"Klaviyo-Webhook-Id": "01HWMK0XQ2B8C9X0QMJ7N6G6ZZ"})
    with pytest.raises(SignatureMismatch):
        verifiers.verify("klaviyo", secrets=[KLAVIYO_SECRET], headers=headers, body=KLAVIYO_BODY, now=KLAVIYO_NOW)
    # Without the header there is nothing to compare: the signature alone decides.
    verifiers.verify("klaviyo", secrets=[KLAVIYO_SECRET], headers=klaviyo_headers(), body=KLAVIYO_BODY, now=KLAVIYO_NOW)


def test_klaviyo_signer_reproduces_the_hand_computed_signature() -> None:
    signed = verifiers.sign("klaviyo", secrets=[KLAVIYO_SECRET], body=KLAVIYO_BODY, now=KLAVIYO_NOW)
    assert signed == {"klaviyo-timestamp": KLAVIYO_TS, "klaviyo-signature": klaviyo_headers()["Klaviyo-Signature"]}


@given(st.binary(min_size=1, max_size=64), st.booleans(), st.booleans())
def test_only_the_canonical_base64_spelling_of_a_digest_is_accepted(digest: bytes, urlsafe: bool, padded: bool) -> None:
    text = (base64.urlsafe_b64encode(digest) if urlsafe else base64.b64encode(digest)).decode()
    text = text if padded else text.rstrip("=")
    assert b64digest_strict(text) == digest
    stem = text.rstrip("=")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" + ("-_" if urlsafe else "+/")
    for other in alphabet:
        spelling = stem[:-1] + other + text[len(stem) :]
        if spelling == text:
            continue
        try:
            decoded = b64digest_strict(spelling)
        except MalformedHeader:
            continue
        assert decoded != digest  # a spelling that decodes to the same digest must have been refused
