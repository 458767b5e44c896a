"""A JWT on an ingress path is decoded once per request: reading its header to pick a key, reading its claims,
verifying it and extracting the tenant from it all share one decode. Counted at PyJWT's own seam,
``PyJWS._load`` (base64 and JSON of the segments), which every PyJWT decoding call goes through."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.api_jws import PyJWS

import verifiers
from tests.verifiers import test_gmail as gmail
from tests.verifiers import test_jira as jira
from verifiers._jwt import parse_jwt


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], int]]:
    calls: list[object] = []
    load = PyJWS._load

    def counted(self: PyJWS, token: str | bytes) -> Any:
        calls.append(token)
        return load(self, token)

    parse_jwt.cache_clear()  # a token decoded by an earlier test must be decoded again here
    monkeypatch.setattr(PyJWS, "_load", counted)
    yield lambda: len(calls)
    parse_jwt.cache_clear()


def received(provider: str, headers: dict[str, str], body: bytes, url: str, secrets: list[str], now: float) -> None:
    """What the receiver does with a webhook (router/ingress/webhooks.py): verify it, then extract its events."""
    inbound = verifiers.Inbound(provider, secrets=secrets, headers=headers, body=body, url=url, now=now)
    inbound.verify()
    inbound.extract()


def test_a_gmail_push_token_is_decoded_once(decodes: Callable[[], int]) -> None:
    received("gmail", gmail.sign(gmail.BODY), gmail.BODY, gmail.URL, gmail.SECRETS, gmail.NOW)
    assert decodes() == 1


def test_a_gmail_push_token_is_decoded_once_with_a_rotated_key_tried_first(decodes: Callable[[], int]) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    secrets = [pem.decode(), *gmail.SECRETS]  # the first key does not verify it, the second does
    received("gmail", gmail.sign(gmail.BODY), gmail.BODY, gmail.URL, secrets, gmail.NOW)
    assert decodes() == 1


def test_a_jira_connect_token_is_decoded_once_for_verifying_and_extracting(decodes: Callable[[], int]) -> None:
    headers = jira.sign(jira.BODY, connect=True)
    inbound = verifiers.Inbound(
        "jira", secrets=[jira.SHARED], headers=headers, body=jira.BODY, url=jira.URL, now=jira.NOW
    )
    inbound.verify()
    [info] = inbound.extract()
    assert info.provider_id == jira.CLIENT_KEY and decodes() == 1


def test_a_forged_token_is_still_refused_after_a_valid_one_was_decoded(decodes: Callable[[], int]) -> None:
    # The decoded token is kept for the request's extraction; the signature is checked on every request.
    good = gmail.token()
    received("gmail", {"authorization": f"Bearer {good}"}, gmail.BODY, gmail.URL, gmail.SECRETS, gmail.NOW)
    header, claims, _ = good.split(".")
    forged = f"{header}.{claims}.{jwt.utils.base64url_encode(b'0' * 256).decode()}"
    with pytest.raises(verifiers.SignatureMismatch):
        received("gmail", {"authorization": f"Bearer {forged}"}, gmail.BODY, gmail.URL, gmail.SECRETS, gmail.NOW)
    assert decodes() == 2
