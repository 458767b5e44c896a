from __future__ import annotations

import contextlib
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import MissingHeader, MissingSecret, SignatureMismatch, VerificationError

# Mailchimp Marketing webhooks are unsigned, so there is no published vector: the body below follows the
# "subscribe" example of mailchimp.com/developer/marketing/guides/sync-audience-data-webhooks/.
SECRET = "s3cr3t-url-token"
BASE = "https://hooks.example.com/webhook/triggers/connect/mailchimp/42"
BODY = urlencode(
    {
        "type": "subscribe",
        "fired_at": "2009-03-26 21:35:57",
        "data[id]": "8a25ff1d98",
        "data[list_id]": "a6b5da1054",
        "data[email]": "api@mailchimp.com",
        "data[merges][FNAME]": "Mailchimp",
    }
).encode()


def url(*, secret: str = SECRET, name: str = "secret") -> str:
    return f"{BASE}?{urlencode({name: secret})}"


def sign(body: bytes, *, secret: str = SECRET) -> dict[str, str]:
    """Mailchimp signs nothing: the secret rides in the URL (see url()); no headers are needed."""
    return {"content-type": "application/x-www-form-urlencoded"}


def _verify(request_url: str, *, secrets: list[str] | None = None, method: str = "POST") -> None:
    verifiers.verify(
        "mailchimp",
        secrets=[SECRET] if secrets is None else secrets,
        headers=sign(BODY),
        body=BODY,
        method=method,
        url=request_url,
    )


def test_url_secret_accepted() -> None:
    _verify(url())
    _verify(url(name="token"))


def test_secret_with_reserved_characters_is_url_decoded() -> None:
    secret = "a+b/c=d&e"
    _verify(url(secret=secret), secrets=[secret])


@pytest.mark.parametrize(
    ("request_url", "secrets", "error"),
    [
        pytest.param(url(secret="guess"), [SECRET], SignatureMismatch, id="wrong-secret"),
        pytest.param(BASE, [SECRET], MissingHeader, id="no-query-secret"),
        pytest.param(f"{BASE}?secret=", [SECRET], SignatureMismatch, id="empty-query-secret"),
        pytest.param(f"{BASE}?other={SECRET}", [SECRET], MissingHeader, id="other-parameter"),
        pytest.param(url(secret=SECRET + "x"), [SECRET], SignatureMismatch, id="longer-secret"),
        pytest.param(url(), [], MissingSecret, id="no-secret"),
        pytest.param(url(), [""], MissingSecret, id="blank-secret"),
    ],
)
def test_rejects(request_url: str, secrets: list[str], error: type[VerificationError]) -> None:
    with pytest.raises(error) as info:
        _verify(request_url, secrets=secrets)
    assert info.value.reason == error.reason


def test_rotated_secret_accepted() -> None:
    _verify(url(secret="old"), secrets=["new", "old"])


def test_validation_get_answers_200() -> None:
    reply = verifiers.handshake("mailchimp", secrets=[SECRET], headers={}, body=b"", method="GET", url=url())
    assert reply is not None and reply.status == 200 and reply.persist == {}


def test_validation_get_without_the_secret_is_refused() -> None:
    with pytest.raises(SignatureMismatch):
        verifiers.handshake("mailchimp", secrets=[SECRET], headers={}, body=b"", method="GET", url=url(secret="x"))


def test_post_is_not_a_handshake() -> None:
    assert verifiers.handshake("mailchimp", secrets=[SECRET], headers={}, body=BODY, url=url()) is None


def test_extract_audience() -> None:
    [info] = verifiers.extract("mailchimp", headers=sign(BODY), body=BODY, url=url())
    assert info == verifiers.EventInfo("a6b5da1054", "subscribe", "")


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=256),
    query=st.text(max_size=80),
    method=st.sampled_from(["GET", "POST", "HEAD"]),
)
def test_only_verification_errors_escape(body: bytes, query: str, method: str) -> None:
    request_url = f"{BASE}?secret={query}"
    for call in (verifiers.verify, verifiers.handshake):
        with contextlib.suppress(VerificationError):
            call("mailchimp", secrets=[SECRET], headers={}, body=body, method=method, url=request_url)
    verifiers.extract("mailchimp", headers={}, body=body, method=method, url=request_url)
