"""Published vectors for catalog providers, kept with their source in ``tests/verifiers/vectors/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import verifiers
from tests.verifiers import test_standard_webhooks
from verifiers import SignatureMismatch
from verifiers.adyen import signed_string

VECTORS = Path(__file__).parent / "vectors"


def adyen_vector() -> dict[str, Any]:
    vector: dict[str, Any] = json.loads((VECTORS / "adyen_notification_hmac.json").read_text())
    return vector


def adyen_body(item: dict[str, Any], signature: str) -> bytes:
    signed = {**item, "additionalData": {"hmacSignature": signature}}
    return json.dumps({"live": "false", "notificationItems": [{"NotificationRequestItem": signed}]}).encode()


def test_adyen_signed_string_of_the_sdk_vector() -> None:
    item = adyen_vector()["item"]
    assert (
        signed_string(item) == b"7914073381342284::TestMerchant:TestPayment-1407325143704:1130:EUR:AUTHORISATION:true"
    )


def test_adyen_sdk_vector_verifies() -> None:
    vector = adyen_vector()
    body = adyen_body(vector["item"], vector["hmacSignature"])
    verifiers.verify("adyen", secrets=[vector["hmac_key_hex"]], headers={}, body=body)


def test_adyen_signer_reproduces_the_sdk_vector() -> None:
    vector = adyen_vector()
    body = json.dumps({"notificationItems": [{"NotificationRequestItem": vector["item"]}]}).encode()
    signed = verifiers.sign_request("adyen", secrets=[vector["hmac_key_hex"]], body=body)
    item = json.loads(signed.body)["notificationItems"][0]["NotificationRequestItem"]
    assert item["additionalData"]["hmacSignature"] == vector["hmacSignature"]


@pytest.mark.parametrize(
    "change", [{"success": "false"}, {"amount": {"currency": "EUR", "value": 1131}}, {"eventCode": "REFUND"}]
)
def test_adyen_sdk_vector_with_a_changed_field_fails(change: dict[str, Any]) -> None:
    vector = adyen_vector()
    body = adyen_body({**vector["item"], **change}, vector["hmacSignature"])
    with pytest.raises(SignatureMismatch):
        verifiers.verify("adyen", secrets=[vector["hmac_key_hex"]], headers={}, body=body)


RAZORPAY_SECRET = "key_secret"  # razorpay-python tests/helpers.py: Client(auth=("key_id", "key_secret"))
RAZORPAY_SIGNATURE = "d60e67fd884556c045e9be7dad57903e33efc7172c17c6e3ef77db42d2b366e9"


def test_razorpay_sdk_vector_verifies() -> None:
    body = (VECTORS / "razorpay_fake_payment_authorized_webhook.json").read_bytes()
    headers = {"X-Razorpay-Signature": RAZORPAY_SIGNATURE}
    verifiers.verify("razorpay", secrets=[RAZORPAY_SECRET], headers=headers, body=body)
    assert (
        verifiers.sign("razorpay", secrets=[RAZORPAY_SECRET], body=body)["x-razorpay-signature"] == RAZORPAY_SIGNATURE
    )
    with pytest.raises(SignatureMismatch):
        verifiers.verify(
            "razorpay", secrets=[RAZORPAY_SECRET], headers=headers, body=body.replace(b"1000000", b"1000001")
        )


@pytest.mark.parametrize("provider", ["resend", "clerk"])
def test_svix_documented_vector_verifies_for_svix_delivered_providers(provider: str) -> None:
    headers = {
        "svix-id": test_standard_webhooks.VECTOR_ID,
        "svix-timestamp": str(test_standard_webhooks.VECTOR_TS),
        "svix-signature": test_standard_webhooks.VECTOR_SIGNATURE,
    }
    secrets = [test_standard_webhooks.VECTOR_SECRET]
    body = test_standard_webhooks.VECTOR_BODY
    verifiers.verify(provider, secrets=secrets, headers=headers, body=body, now=test_standard_webhooks.VECTOR_TS)
    with pytest.raises(SignatureMismatch):
        verifiers.verify(
            provider, secrets=secrets, headers=headers, body=body + b" ", now=test_standard_webhooks.VECTOR_TS
        )
