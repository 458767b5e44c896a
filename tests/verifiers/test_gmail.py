from __future__ import annotations

import base64
import contextlib
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
    MissingSecret,
    SignatureMismatch,
    TimestampOutOfRange,
    UnsupportedVersion,
    VerificationError,
)

# The notification body is the example in developers.google.com/gmail/api/guides/push ("Receiving
# notifications"): message.data is base64url of {"emailAddress": "user@example.com", "historyId": "1234567890"}.
# Google publishes no token signed with a known key, so the OIDC tests sign with a key generated here.
BODY = json.dumps(
    {
        "message": {
            "data": "eyJlbWFpbEFkZHJlc3MiOiAidXNlckBleGFtcGxlLmNvbSIsICJoaXN0b3J5SWQiOiAiMTIzNDU2Nzg5MCJ9",
            "messageId": "2070443601311540",
            "publishTime": "2021-02-26T19:13:55.749Z",
        },
        "subscription": "projects/myproject/subscriptions/mysubscription",
    }
).encode()
NOW = 1_700_000_000
URL = "https://hooks.example.com/webhook/triggers/connect/gmail/21"
SA = "gmail-push@myproject.iam.gserviceaccount.com"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = (
    KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
)
JWK = json.dumps({**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key())), "kid": "k1", "alg": "RS256"})
SECRETS = [PEM, f"aud={URL}", f"email={SA}"]


def token(*, key: Any = KEY, now: int = NOW, kid: str = "k1", alg: str = "RS256", **claims: Any) -> str:
    payload = {
        "aud": URL,
        "iss": "https://accounts.google.com",
        "email": SA,
        "email_verified": True,
        "sub": "113774264463038321964",
        "iat": now,
        "exp": now + 3600,
        **claims,
    }
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


def sign(body: bytes, *, key: Any = KEY, now: int = NOW, **claims: Any) -> dict[str, str]:
    """The Authorization header Pub/Sub sends with an authenticated push: Bearer <RS256 OIDC token>."""
    return {"authorization": f"Bearer {token(key=key, now=now, **claims)}"}


def _verify(
    headers: dict[str, str], *, secrets: list[str] | None = None, url: str = URL, now: float = NOW, body: bytes = BODY
) -> None:
    verifiers.verify(
        "gmail", secrets=SECRETS if secrets is None else secrets, headers=headers, body=body, url=url, now=now
    )


def test_oidc_token_with_pem_key() -> None:
    _verify(sign(BODY))


def test_oidc_token_with_jwk_and_jwk_set() -> None:
    _verify(sign(BODY), secrets=[JWK, f"email={SA}"])
    _verify(sign(BODY), secrets=[json.dumps({"keys": [json.loads(JWK)]}), f"email={SA}"])


def test_audience_defaults_to_the_request_url() -> None:
    _verify(sign(BODY), secrets=[PEM])


def test_without_a_public_url_the_audience_cannot_default_and_the_token_is_refused() -> None:
    """The router hands a path-only URL when no public URL is configured: a token for any host is refused."""
    with pytest.raises(verifiers.MissingPublicUrl):
        _verify(sign(BODY, aud="https://evil.example/webhook/triggers/connect/gmail/21"), secrets=[PEM], url="/webhook")
    _verify(sign(BODY), secrets=[PEM, f"aud={URL}"], url="/webhook/triggers/connect/gmail/21")  # aud= pins it


@pytest.mark.parametrize(
    ("secrets", "needs"),
    [([PEM], True), ([PEM, f"aud={URL}"], False), (["token=t0ken"], False), ([PEM, "token=t0ken"], True)],
)
def test_needs_a_public_url_unless_the_secrets_pin_the_audience(secrets: list[str], needs: bool) -> None:
    assert verifiers.signs_url("gmail")
    assert verifiers.needs_public_url("gmail", secrets) is needs


def test_legacy_issuer_spelling_accepted() -> None:
    _verify(sign(BODY, iss="accounts.google.com"))


def test_url_token_mode() -> None:
    _verify({}, secrets=["token=t0ken"], url=f"{URL}?token=t0ken")


@pytest.mark.parametrize(
    ("headers", "secrets", "url", "now", "error"),
    [
        pytest.param(sign(BODY, key=OTHER_KEY), SECRETS, URL, NOW, SignatureMismatch, id="other-signer"),
        pytest.param(sign(BODY, aud="https://evil.example"), SECRETS, URL, NOW, SignatureMismatch, id="wrong-aud"),
        pytest.param(sign(BODY, iss="https://evil.example"), SECRETS, URL, NOW, SignatureMismatch, id="wrong-iss"),
        pytest.param(sign(BODY, email="x@evil.example"), SECRETS, URL, NOW, SignatureMismatch, id="wrong-email"),
        pytest.param(sign(BODY, email_verified=False), SECRETS, URL, NOW, SignatureMismatch, id="unverified-email"),
        pytest.param(sign(BODY, now=NOW - 3661), SECRETS, URL, NOW, TimestampOutOfRange, id="expired"),
        pytest.param(sign(BODY, now=NOW + 61), SECRETS, URL, NOW, TimestampOutOfRange, id="issued-in-future"),
        pytest.param(sign(BODY, exp=None), SECRETS, URL, NOW, MalformedHeader, id="no-exp"),
        pytest.param(
            {"authorization": f"Bearer {token(key='s' * 32, alg='HS256')}"},
            SECRETS,
            URL,
            NOW,
            UnsupportedVersion,
            id="hs256-confusion",
        ),
        pytest.param({"authorization": "Bearer abc.def"}, SECRETS, URL, NOW, MalformedHeader, id="garbled"),
        pytest.param({}, SECRETS, URL, NOW, MissingHeader, id="missing-header"),
        pytest.param(sign(BODY), ["aud=x", "email=y"], URL, NOW, MissingSecret, id="no-key-configured"),
        pytest.param(sign(BODY), [], URL, NOW, MissingSecret, id="no-secret"),
        pytest.param({}, ["token=t0ken"], f"{URL}?token=guess", NOW, SignatureMismatch, id="wrong-url-token"),
        pytest.param({}, ["token=t0ken"], URL, NOW, MissingHeader, id="no-url-token"),
    ],
)
def test_rejects(
    headers: dict[str, str], secrets: list[str], url: str, now: float, error: type[VerificationError]
) -> None:
    with pytest.raises(error) as info:
        _verify(headers, secrets=secrets, url=url, now=now)
    assert info.value.reason == error.reason


def test_rotated_key_accepted() -> None:
    other_pem = OTHER_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _verify(sign(BODY), secrets=[other_pem.decode(), PEM, f"email={SA}"])


def test_rotated_url_token_accepted() -> None:
    _verify({}, secrets=["token=new", "token=old"], url=f"{URL}?token=old")


def test_jwk_kid_must_match() -> None:
    with pytest.raises(SignatureMismatch):
        _verify({"authorization": f"Bearer {token(kid='k2')}"}, secrets=[JWK])


def test_no_handshake() -> None:
    assert verifiers.handshake("gmail", secrets=SECRETS, headers=sign(BODY), body=BODY, url=URL, now=NOW) is None


def test_extract_mailbox_and_message_id() -> None:
    [info] = verifiers.extract("gmail", headers=sign(BODY), body=BODY, url=URL)
    assert info == verifiers.EventInfo("user@example.com", "history", "2070443601311540")


def test_extract_unpadded_urlsafe_data() -> None:
    data = base64.urlsafe_b64encode(b'{"emailAddress":"a?b@example.com"}').rstrip(b"=").decode()
    body = json.dumps({"message": {"data": data, "message_id": "9"}}).encode()
    [info] = verifiers.extract("gmail", headers={}, body=body)
    assert (info.provider_id, info.delivery_id) == ("a?b@example.com", "9")


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=256),
    auth=st.one_of(st.text(max_size=120), st.builds(lambda t: f"Bearer {t}", st.text(max_size=200))),
    secret=st.one_of(st.text(max_size=60), st.just(PEM), st.builds(lambda t: "{" + t, st.text(max_size=60))),
)
def test_only_verification_errors_escape(body: bytes, auth: str, secret: str) -> None:
    headers = {"authorization": auth}
    for call in (verifiers.verify, verifiers.handshake):
        with contextlib.suppress(VerificationError):
            call("gmail", secrets=[secret, PEM], headers=headers, body=body, url=f"{URL}?token={auth[:20]}", now=NOW)
    verifiers.extract("gmail", headers=headers, body=body)
