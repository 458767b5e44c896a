"""Published vectors for catalog providers, kept with their source in ``tests/verifiers/vectors/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import verifiers
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
