from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import (
    MalformedBody,
    MissingHeader,
    MissingPublicUrl,
    MissingSecret,
    SignatureMismatch,
    VerificationError,
)

# Mailchimp Transactional publishes the algorithm (mailchimp.com/developer/transactional/guides/
# track-respond-activity-webhooks/, "Authenticating webhook requests") but no signed example, so the
# tests sign with sign(). The known-answer test pins sign() itself to an independent computation.
SECRET = "mandrill-webhook-key"
URL = "https://hooks.example.com/webhook/triggers/connect/mandrill/7"
EVENTS = [
    {"event": "send", "_id": "exampleaaaaaaaaaaaaaaaaaaaaaaaaa", "ts": 1365109999, "msg": {"email": "a@example.com"}},
    {"event": "open", "_id": "examplebbbbbbbbbbbbbbbbbbbbbbbbb", "ts": 1365111111, "msg": {"email": "b@example.com"}},
    {"type": "whitelist", "action": "add", "entry": {"email": "c@example.com"}},
]
BODY = urlencode({"mandrill_events": json.dumps(EVENTS)}).encode()


def sign(body: bytes, *, secret: str = SECRET, url: str = URL) -> dict[str, str]:
    return verifiers.sign("mandrill", secrets=[secret], body=body, url=url)


def _verify(headers: dict[str, str], body: bytes = BODY, *, secrets: list[str] | None = None, url: str = URL) -> None:
    verifiers.verify("mandrill", secrets=[SECRET] if secrets is None else secrets, headers=headers, body=body, url=url)


def test_known_answer() -> None:
    body = b"b=2&a=1"
    expected = base64.b64encode(hmac.new(b"k", b"https://x.test/ha1b2", hashlib.sha1).digest()).decode()
    assert sign(body, secret="k", url="https://x.test/h") == {"x-mandrill-signature": expected}
    _verify(sign(body, secret="k", url="https://x.test/h"), body, secrets=["k"], url="https://x.test/h")


def test_valid() -> None:
    _verify(sign(BODY))


def test_fields_are_percent_decoded_before_signing() -> None:
    body = b"mandrill_events=%5B%5D&z=a+b%26c"
    _verify(sign(body), body)


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "url", "error"),
    [
        pytest.param(sign(BODY), BODY + b"x", [SECRET], URL, SignatureMismatch, id="tampered-body"),
        pytest.param(sign(BODY), BODY, ["other"], URL, SignatureMismatch, id="wrong-secret"),
        pytest.param(sign(BODY), BODY, [SECRET], URL + "?x=1", SignatureMismatch, id="other-url"),
        pytest.param(sign(BODY), BODY, [SECRET], "", MissingPublicUrl, id="url-not-configured"),
        pytest.param({}, BODY, [SECRET], URL, MissingHeader, id="missing-header"),
        pytest.param({"x-mandrill-signature": "***"}, BODY, [SECRET], URL, SignatureMismatch, id="garbled"),
        pytest.param(sign(BODY), b"mandrill_events=\xff", [SECRET], URL, MalformedBody, id="non-utf8-body"),
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


def test_head_check_answers_200() -> None:
    reply = verifiers.handshake("mandrill", secrets=[SECRET], headers={}, body=b"", method="HEAD", url=URL)
    assert reply is not None and reply.status == 200


def test_post_is_not_a_handshake() -> None:
    assert verifiers.handshake("mandrill", secrets=[SECRET], headers=sign(BODY), body=BODY, url=URL) is None


def test_extract_splits_events() -> None:
    infos = verifiers.extract("mandrill", headers=sign(BODY), body=BODY, url=URL)
    assert [(i.event_type, i.delivery_id) for i in infos] == [
        ("send", "exampleaaaaaaaaaaaaaaaaaaaaaaaaa"),
        ("open", "examplebbbbbbbbbbbbbbbbbbbbbbbbb"),
        ("whitelist", ""),
    ]
    assert [json.loads(i.body or b"") for i in infos] == EVENTS


def test_extract_empty_test_batch() -> None:
    body = urlencode({"mandrill_events": "[]"}).encode()
    assert verifiers.extract("mandrill", headers=sign(body), body=body, url=URL) == [verifiers.EventInfo()]


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), sig=st.text(max_size=80), method=st.sampled_from(["POST", "HEAD", "GET"]))
def test_only_verification_errors_escape(body: bytes, sig: str, method: str) -> None:
    headers = {"x-mandrill-signature": sig}
    for call in (verifiers.verify, verifiers.handshake):
        with contextlib.suppress(VerificationError):
            call("mandrill", secrets=[SECRET], headers=headers, body=body, method=method, url=URL)
    verifiers.extract("mandrill", headers=headers, body=body, method=method, url=URL)
