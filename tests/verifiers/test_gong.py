from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import (
    MalformedHeader,
    MissingHeader,
    MissingPublicUrl,
    MissingSecret,
    SignatureMismatch,
    TimestampOutOfRange,
    VerificationError,
)

# Gong publishes no signed example: its JWT page shows verifier code only, and the claim names
# (webhook_url, body_sha256, exp) are confirmed by third-party receivers (nango, sim). Tokens are minted
# here with PyJWT from a key generated per test session.
URL = "https://hooks.example.com/webhook/triggers/connect/gong/int_1?id=cred_9"
NOW = 1_700_000_000
_PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_key_b64(key: rsa.RSAPrivateKey = _PRIVATE) -> str:
    """The rule's public key as Gong's "Show public key" displays it: bare base64 DER."""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


SECRET = public_key_b64()
BODY = json.dumps(
    {"isTest": False, "callData": {"metaData": {"id": "7782342274025937895", "url": "https://app.gong.io/call?id=1"}}},
    separators=(",", ":"),
).encode()


def sign(
    body: bytes,
    *,
    secret: rsa.RSAPrivateKey = _PRIVATE,
    url: str = URL,
    now: int = NOW,
    algorithm: str = "RS256",
    **claims: Any,
) -> dict[str, str]:
    """The Authorization header Gong sends for ``body`` posted to ``url`` (extra ``claims`` override)."""
    if algorithm == "RS256" and not claims:
        pem = secret.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return verifiers.sign("gong", secrets=[pem], body=body, url=url, now=now)
    # A token with other claims or another algorithm: the forgeries the cases below need.
    payload = {"webhook_url": url, "body_sha256": hashlib.sha256(body).hexdigest(), "exp": now + 300, **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    return {"authorization": "Bearer " + jwt.encode(payload, secret, algorithm=algorithm)}


def _verify(
    headers: dict[str, str], body: bytes, *, secrets: list[str] | None = None, url: str = URL, now: float = NOW
) -> None:
    verifiers.verify(
        "gong", secrets=[SECRET] if secrets is None else secrets, headers=headers, body=body, url=url, now=now
    )


def test_signed_request_verifies() -> None:
    _verify(sign(BODY), BODY)


def test_pem_key_and_bare_token_accepted() -> None:
    pem = _PRIVATE.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = sign(BODY)["authorization"].removeprefix("Bearer ")
    _verify({"authorization": token}, BODY, secrets=[pem.decode()])


def test_url_compared_without_case_or_default_port() -> None:
    _verify(sign(BODY, url="HTTPS://Hooks.Example.com:443/webhook/triggers/connect/gong/int_1?id=cred_9"), BODY)


def test_non_default_port_is_part_of_the_url() -> None:
    other_port = URL.replace(".com/", ".com:8443/")
    _verify(sign(BODY, url=other_port), BODY, url=other_port)
    with pytest.raises(SignatureMismatch):
        _verify(sign(BODY, url=other_port), BODY)


def _hs256_token() -> dict[str, str]:
    # Algorithm confusion: an HS256 token keyed with the public key text must never pass.
    claims = {"webhook_url": URL, "body_sha256": hashlib.sha256(BODY).hexdigest()}
    return {"authorization": "Bearer " + jwt.encode(claims, "not-the-rsa-key-but-long-enough-32b", algorithm="HS256")}


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "url", "now", "error"),
    [
        pytest.param(sign(BODY), BODY + b" ", None, URL, NOW, SignatureMismatch, id="tampered-body"),
        pytest.param(sign(BODY), BODY, [public_key_b64(_OTHER)], URL, NOW, SignatureMismatch, id="wrong-key"),
        pytest.param(
            sign(BODY), BODY, None, URL.replace("cred_9", "cred_8"), NOW, SignatureMismatch, id="other-endpoint"
        ),
        pytest.param(sign(BODY), BODY, None, "", NOW, MissingPublicUrl, id="no-url"),
        pytest.param(sign(BODY), BODY, None, "/webhook/x", NOW, MissingPublicUrl, id="path-only"),
        pytest.param(sign(BODY, webhook_url=None), BODY, None, URL, NOW, SignatureMismatch, id="no-url-claim"),
        pytest.param(sign(BODY, body_sha256=None), BODY, None, URL, NOW, SignatureMismatch, id="no-body-claim"),
        pytest.param(sign(BODY, now=NOW - 361), BODY, None, URL, NOW, TimestampOutOfRange, id="expired"),
        pytest.param(sign(BODY, nbf=NOW + 61), BODY, None, URL, NOW, TimestampOutOfRange, id="not-yet-valid"),
        pytest.param(sign(BODY, exp="soon"), BODY, None, URL, NOW, MalformedHeader, id="garbled-exp"),
        pytest.param({}, BODY, None, URL, NOW, MissingHeader, id="missing-header"),
        pytest.param({"authorization": "Bearer abc"}, BODY, None, URL, NOW, MalformedHeader, id="not-a-jwt"),
        pytest.param({"authorization": "Bearer a.b.c"}, BODY, None, URL, NOW, MalformedHeader, id="garbled-jwt"),
        pytest.param(_hs256_token(), BODY, None, URL, NOW, MalformedHeader, id="hs256-refused"),
        pytest.param(sign(BODY), BODY, [], URL, NOW, MissingSecret, id="no-secret"),
        pytest.param(sign(BODY), BODY, ["not a key"], URL, NOW, MissingSecret, id="secret-not-a-key"),
    ],
)
def test_rejects(
    headers: dict[str, str],
    body: bytes,
    secrets: list[str] | None,
    url: str,
    now: float,
    error: type[VerificationError],
) -> None:
    with pytest.raises(error) as info:
        _verify(headers, body, secrets=secrets, url=url, now=now)
    assert info.value.reason == error.reason


def test_leeway_edges_accepted() -> None:
    _verify(sign(BODY, now=NOW - 360), BODY)
    _verify(sign(BODY, nbf=NOW + 60), BODY)


def test_rotated_key_accepted() -> None:
    _verify(sign(BODY, secret=_OTHER), BODY, secrets=[SECRET, public_key_b64(_OTHER)])


def test_no_handshake() -> None:
    assert verifiers.handshake("gong", secrets=[SECRET], headers=sign(BODY), body=BODY, url=URL, now=NOW) is None


def test_extract() -> None:
    [info] = verifiers.extract("gong", headers=sign(BODY), body=BODY, url=URL)
    assert info == verifiers.EventInfo("", "call", "7782342274025937895")


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), auth=st.text(max_size=120), url=st.text(max_size=60))
def test_only_verification_errors_escape(body: bytes, auth: str, url: str) -> None:
    for headers in ({"authorization": auth}, sign(body, url=url)):
        with contextlib.suppress(VerificationError):
            _verify(headers, body, url=url)
        with contextlib.suppress(VerificationError):
            verifiers.handshake("gong", secrets=[SECRET], headers=headers, body=body, url=url, now=NOW)
        assert verifiers.extract("gong", headers=headers, body=body, url=url)
