from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import MalformedHeader, MissingHeader, MissingSecret, SignatureMismatch, VerificationError

SECRET = "shpss_test_client_secret"
BODY = b'{"id":820982911946154508,"email":"jon@example.com"}'


def sign(
    body: bytes,
    *,
    secret: str = SECRET,
    topic: str = "orders/create",
    shop: str = "example.myshopify.com",
    webhook_id: str = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    prefix: str = "x-shopify-",
) -> dict[str, str]:
    headers = verifiers.sign("shopify", secrets=[secret], body=body)
    signature = headers.pop("x-shopify-hmac-sha256")
    extra = {"hmac-sha256": signature, "topic": topic, "shop-domain": shop, "webhook-id": webhook_id}
    return {**headers, **{prefix + name: value for name, value in extra.items()}}


def test_shopify_api_ruby_registry_vector() -> None:
    # Shopify/shopify-api-ruby test/webhooks/registry_test.rb: secret "API_SECRET_KEY" (test_helper.rb), body "{}".
    # Shopify publishes no literal digest; this one was computed independently with OpenSSL-equivalent HMAC.
    headers = {
        "X-Shopify-Hmac-Sha256": "+ihUB5l+D7QrohDEi/6NcBcJRyKssyWqos13LmnsBbs=",
        "X-Shopify-Topic": "some/topic",
        "X-Shopify-Shop-Domain": "shop.myshopify.com",
        "X-Shopify-Webhook-Id": "b1234-eefd-4c9e-9520-049845a02082",
    }
    verifiers.verify("shopify", secrets=["API_SECRET_KEY"], headers=headers, body=b"{}")
    [info] = verifiers.extract("shopify", headers=headers, body=b"{}")
    assert info == verifiers.EventInfo("shop.myshopify.com", "some/topic", "b1234-eefd-4c9e-9520-049845a02082")


@pytest.mark.parametrize("prefix", ["x-shopify-", "shopify-", "X-Shopify-"])
def test_accepts_prefixed_and_unprefixed_headers(prefix: str) -> None:
    headers = sign(BODY, prefix=prefix)
    verifiers.verify("shopify", secrets=[SECRET], headers=headers, body=BODY)
    [info] = verifiers.extract("shopify", headers=headers, body=BODY)
    assert (info.provider_id, info.event_type, info.delivery_id) == (
        "example.myshopify.com",
        "orders/create",
        "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    )


def test_rotated_secret_accepted() -> None:
    verifiers.verify(
        "shopify", secrets=["new-secret", "old-secret"], headers=sign(BODY, secret="old-secret"), body=BODY
    )


def test_unpadded_signature_accepted() -> None:
    headers = sign(BODY)
    headers["x-shopify-hmac-sha256"] = headers["x-shopify-hmac-sha256"].rstrip("=")
    verifiers.verify("shopify", secrets=[SECRET], headers=headers, body=BODY)


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != name}


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "error", "reason"),
    [
        (sign(BODY), BODY + b" ", [SECRET], SignatureMismatch, "signature_mismatch"),
        (sign(BODY), BODY, ["wrong"], SignatureMismatch, "signature_mismatch"),
        (sign(BODY, secret="wrong"), BODY, [SECRET], SignatureMismatch, "signature_mismatch"),
        (_without(sign(BODY), "x-shopify-hmac-sha256"), BODY, [SECRET], MissingHeader, "missing_header"),
        ({**sign(BODY), "x-shopify-hmac-sha256": "not base64!"}, BODY, [SECRET], MalformedHeader, "malformed_header"),
        ({**sign(BODY), "x-shopify-hmac-sha256": "é"}, BODY, [SECRET], MalformedHeader, "malformed_header"),
        (sign(BODY), BODY, [], MissingSecret, "missing_secret"),
    ],
)
def test_rejects(
    headers: dict[str, str], body: bytes, secrets: list[str], error: type[VerificationError], reason: str
) -> None:
    with pytest.raises(error) as info:
        verifiers.verify("shopify", secrets=secrets, headers=headers, body=body)
    assert info.value.reason == reason


def test_no_handshake() -> None:
    assert verifiers.handshake("shopify", secrets=[SECRET], headers=sign(BODY), body=BODY) is None


def test_extract_without_headers_is_empty() -> None:
    assert verifiers.extract("shopify", headers={}, body=b"") == [verifiers.EventInfo()]


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), sig=st.text(max_size=80), topic=st.text(max_size=40))
def test_only_verification_errors(body: bytes, sig: str, topic: str) -> None:
    headers = {"x-shopify-hmac-sha256": sig, "shopify-topic": topic, "x-shopify-shop-domain": topic}
    with contextlib.suppress(VerificationError):
        verifiers.verify("shopify", secrets=[SECRET], headers=headers, body=body)
    with contextlib.suppress(VerificationError):
        verifiers.handshake("shopify", secrets=[SECRET], headers=headers, body=body)
    assert len(verifiers.extract("shopify", headers=headers, body=body)) == 1
