from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import MissingHeader, MissingSecret, SignatureMismatch, VerificationError

# Trello documents the algorithm (developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/,
# "Webhook Signatures") without a signed example; tests sign with sign().
SECRET = "trello-oauth-app-secret"
URL = "https://hooks.example.com/webhook/triggers/connect/trello/11"
BODY = json.dumps(
    {
        "model": {"id": "4d5ea62fd76aa1136000000c", "name": "Trello Development"},
        "action": {
            "id": "51f9424bcd6e040f3c002412",
            "type": "updateCard",
            "date": "2013-07-31T16:58:51.949Z",
            "data": {"board": {"id": "4d5ea62fd76aa1136000000c"}, "card": {"id": "51a79e72dbb7e23c7c003778"}},
        },
        "note": "caf\u00e9",
    },
    ensure_ascii=False,
).encode()


def sign(body: bytes, *, secret: str = SECRET, url: str = URL) -> dict[str, str]:
    return verifiers.sign("trello", secrets=[secret], body=body, url=url)


def _verify(headers: dict[str, str], body: bytes = BODY, *, secrets: list[str] | None = None, url: str = URL) -> None:
    verifiers.verify("trello", secrets=[SECRET] if secrets is None else secrets, headers=headers, body=body, url=url)


def test_valid_with_non_ascii_body() -> None:
    assert "é".encode() in BODY
    _verify(sign(BODY))


def test_url_is_appended_after_the_body() -> None:
    digest = hmac.new(SECRET.encode(), URL.encode() + BODY, hashlib.sha1).digest()
    with pytest.raises(SignatureMismatch):
        _verify({"x-trello-webhook": base64.b64encode(digest).decode()})


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "url", "error"),
    [
        pytest.param(sign(BODY), BODY + b" ", [SECRET], URL, SignatureMismatch, id="tampered-body"),
        pytest.param(sign(BODY), BODY, ["other"], URL, SignatureMismatch, id="wrong-secret"),
        pytest.param(sign(BODY), BODY, [SECRET], URL + "/", SignatureMismatch, id="other-callback-url"),
        pytest.param({}, BODY, [SECRET], URL, MissingHeader, id="missing-header"),
        pytest.param({"x-trello-webhook": "!!"}, BODY, [SECRET], URL, SignatureMismatch, id="garbled"),
        pytest.param(sign(BODY), BODY, [], URL, MissingSecret, id="no-secret"),
    ],
)
def test_rejects(
    headers: dict[str, str], body: bytes, secrets: list[str], url: str, error: type[VerificationError]
) -> None:
    with pytest.raises(error) as info:
        _verify(headers, body, secrets=secrets, url=url)
    assert info.value.reason == error.reason


def test_rotated_secret_accepted() -> None:
    _verify(sign(BODY, secret="old"), secrets=["new", "old"])


def test_head_answers_200() -> None:
    reply = verifiers.handshake("trello", secrets=[SECRET], headers={}, body=b"", method="HEAD", url=URL)
    assert reply is not None and reply.status == 200
    assert verifiers.handshake("trello", secrets=[SECRET], headers=sign(BODY), body=BODY, url=URL) is None


def test_extract() -> None:
    [info] = verifiers.extract("trello", headers=sign(BODY), body=BODY, url=URL)
    assert info == verifiers.EventInfo("4d5ea62fd76aa1136000000c", "updateCard", "51f9424bcd6e040f3c002412")


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), sig=st.text(max_size=80), method=st.sampled_from(["POST", "HEAD"]))
def test_only_verification_errors_escape(body: bytes, sig: str, method: str) -> None:
    headers = {"x-trello-webhook": sig}
    for call in (verifiers.verify, verifiers.handshake):
        with contextlib.suppress(VerificationError):
            call("trello", secrets=[SECRET], headers=headers, body=body, method=method, url=URL)
    verifiers.extract("trello", headers=headers, body=body, method=method, url=URL)
