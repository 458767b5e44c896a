from __future__ import annotations

import base64
import contextlib
import json
import warnings
from typing import Any

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import (
    MalformedBody,
    MalformedHeader,
    MissingHeader,
    MissingSecret,
    SignatureMismatch,
    TimestampOutOfRange,
    UnsupportedVersion,
    VerificationError,
)

# monday.com publishes no signed example; tokens are minted here with PyJWT following the documented claims
# (accountId, userId, aud = the app endpoint, exp, iat, shortLivedToken), HS256 with the Signing Secret.
SECRET = "monday-signing-secret-0123456789abcdef"
URL = "https://hooks.example.com/webhook/triggers/connect/monday/int_1"
NOW = 1_700_000_000.0
ACCOUNT = 1825529
BODY = (
    b'{"event":{"userId":4012689,"originalTriggerUuid":null,"boardId":1771812698,"pulseId":1772099344,'
    b'"pulseName":"Item","groupId":"topics","app":"monday","type":"create_pulse","triggerTime":'
    b'"2024-01-01T00:00:00.000Z","subscriptionId":73759690,"triggerUuid":"b5ed2e17c530f43668de130142445cba"}}'
)

# An alg=none token ({"alg":"none"} . {"accountId":1,"exp":...} . empty signature).
UNSIGNED = (
    base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=")
    + "."
    + base64.urlsafe_b64encode(json.dumps({"accountId": 1, "exp": int(NOW) + 300}).encode()).decode().rstrip("=")
    + "."
)


def sign(
    body: bytes = b"",
    *,
    secret: str = SECRET,
    now: float = NOW,
    aud: object = URL,
    account_id: int = ACCOUNT,
    ttl_s: int = 300,
    algorithm: str = "HS256",
    **claims: Any,
) -> dict[str, str]:
    """The Authorization header monday sends; the JWT signs its claims, not ``body``."""
    payload: dict[str, Any] = {"accountId": account_id, "userId": 4012689, "iat": int(now), "exp": int(now) + ttl_s}
    payload["shortLivedToken"] = "short-lived"
    if aud is not None:
        payload["aud"] = aud
    payload.update(claims)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return {"Authorization": jwt.encode(payload, secret, algorithm=algorithm)}


def call(headers: dict[str, str], **kwargs: Any) -> None:
    args: dict[str, Any] = {"secrets": [SECRET], "url": URL, "now": NOW, "body": BODY, **kwargs}
    verifiers.verify("monday", headers=headers, **args)


def test_without_a_public_url_the_token_is_refused() -> None:
    """aud cannot be checked against nothing: a token minted for another app's URL would pass."""
    for url in ("", "/webhook/triggers/connect/monday/m1"):
        with pytest.raises(verifiers.MissingPublicUrl):
            call(sign(aud="https://evil.example/hook"), url=url)


def test_valid_token() -> None:
    call(sign())
    call({"authorization": "Bearer " + sign()["Authorization"]})
    call(sign(), url=URL + "?id=cred_1")  # aud is the endpoint; the call may carry a query string
    call(sign(), now=NOW + 300 + 30)  # 30 s of clock skew allowed past exp


def test_rotated_secret_accepted() -> None:
    # Board webhooks use the Signing Secret, lifecycle webhooks the Client Secret: both are configured.
    call(sign(secret="client-secret-for-lifecycle-events"), secrets=[SECRET, "client-secret-for-lifecycle-events"])


def test_short_secret_raises_no_warning() -> None:
    call(sign(secret="short"), secrets=["short"])


@pytest.mark.parametrize(
    ("headers", "kwargs", "error"),
    [
        (sign(secret="wrong-secret-0123456789abcdef0123456"), {}, SignatureMismatch),
        (sign(), {"secrets": ["another-secret-0123456789abcdef0123"]}, SignatureMismatch),
        (sign(aud="https://evil.example.com/hook"), {}, SignatureMismatch),
        (sign(), {"now": NOW + 331}, TimestampOutOfRange),
        (sign(now=NOW + 600, ttl_s=600), {}, TimestampOutOfRange),
        (sign(nbf=int(NOW) + 600), {}, TimestampOutOfRange),
        (sign(aud=None), {}, MalformedHeader),
        (sign(exp=None), {}, MalformedHeader),
        (sign(exp="soon"), {}, MalformedHeader),
        (sign(algorithm="HS512"), {}, UnsupportedVersion),
        ({"Authorization": UNSIGNED}, {}, UnsupportedVersion),
        ({"Authorization": "not.a.jwt"}, {}, MalformedHeader),
        ({"Authorization": "Bearer "}, {}, MalformedHeader),
        ({}, {}, MissingHeader),
        (sign(), {"secrets": []}, MissingSecret),
    ],
)
def test_rejects(headers: dict[str, str], kwargs: dict[str, Any], error: type[VerificationError]) -> None:
    with pytest.raises(error) as info:
        call(headers, **kwargs)
    assert info.value.reason == error.reason


def test_challenge_is_echoed() -> None:
    body = b'{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}'
    reply = verifiers.handshake("monday", secrets=[SECRET], headers={}, body=body)
    assert reply is not None
    assert reply.status == 200
    assert json.loads(reply.body) == json.loads(body)


def test_non_string_challenge_is_malformed() -> None:
    with pytest.raises(MalformedBody):
        verifiers.handshake("monday", secrets=[SECRET], headers={}, body=b'{"challenge":{"x":1}}')


def test_events_are_not_handshakes() -> None:
    assert verifiers.handshake("monday", secrets=[SECRET], headers=sign(), body=BODY) is None


def test_extract_reads_the_account_from_the_jwt() -> None:
    assert verifiers.extract("monday", headers=sign(), body=BODY) == [
        verifiers.EventInfo(str(ACCOUNT), "create_pulse", "b5ed2e17c530f43668de130142445cba")
    ]


def test_extract_lifecycle_event_without_jwt() -> None:
    body = b'{"type":"install","data":{"app_id":10000,"user_id":4012689,"account_id":1825529}}'
    assert verifiers.extract("monday", headers={}, body=body) == [verifiers.EventInfo("1825529", "install", "")]


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), auth=st.text(max_size=120), exp=st.integers() | st.floats() | st.text())
def test_only_verification_errors(body: bytes, auth: str, exp: object) -> None:
    for headers in ({"authorization": auth}, sign(exp=exp), sign(iat=exp), sign(aud=exp)):
        for fn in (verifiers.verify, verifiers.handshake):
            with contextlib.suppress(VerificationError):
                fn("monday", secrets=[SECRET], headers=headers, body=body, url=URL, now=NOW)
        assert verifiers.extract("monday", headers=headers, body=body)
