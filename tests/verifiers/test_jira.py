from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from typing import Any

import jwt
import pytest
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

# Jira publishes no signed admin-webhook example; those tests sign with sign(). For Connect, two
# published qsh values pin the canonical request:
# - Atlassian's JwtConstants.Claims.QUERY_HASH javadoc (com.atlassian.jwt:jwt-api): a GET to
#   http://localhost:2990/path/to/service?zee_last=param&repeated=parameter 1&first=param&repeated=parameter 2
#   canonicalises to GET&/path/to/service&first=param&repeated=parameter%201,parameter%202&zee_last=param;
# - a token Jira itself issued, logged in gist.github.com/moskrc/8453971: qsh
#   3a6ff1b66f60eb275d0e4cb6be4261d5d3b0216b91c58dc6524509227ef346de for GET /addon/?lic=none&tz=...&jwt=...
SECRET = "jira-webhook-secret"
SHARED = "connect-shared-secret-0123456789abcdef"  # PyJWT warns on HS256 keys under 32 bytes
CLIENT_KEY = "jira:7a3b4c77-cfc3-4071-aae5-a887d197dc9d"
NOW = 1_700_000_000
URL = "https://hooks.example.com/webhook/triggers/connect/jira/13?user_id=admin"
BODY = json.dumps(
    {
        "timestamp": 1700000000000,
        "webhookEvent": "jira:issue_created",
        "issue_event_type_name": "issue_created",
        "user": {"self": "https://acme.atlassian.net/rest/api/2/user?accountId=5b10a2844c20165700ede21g"},
        "issue": {"id": "10148", "self": "https://acme.atlassian.net/rest/api/2/issue/10148", "key": "TEST-1"},
    }
).encode()
GIST_URL = (
    "http://localhost:8000/addon/?lic=none&tz=Europe%2FMoscow&cp=%2Fjira&user_key=admin&loc=en-US&user_id=admin"
    "&jwt=ignored.by.qsh&xdm_e=http%3A%2F%2Flocalhost%3A2990&xdm_c=channel-servlet-click-me&xdm_p=1"
)
GIST_QSH = "3a6ff1b66f60eb275d0e4cb6be4261d5d3b0216b91c58dc6524509227ef346de"
JAVADOC_URL = (
    "http://localhost:2990/path/to/service?zee_last=param&repeated=parameter%201&first=param&repeated=parameter%202"
)
JAVADOC_CANONICAL = "GET&/path/to/service&first=param&repeated=parameter%201,parameter%202&zee_last=param"


def qsh(method: str, path: str, query: str) -> str:
    return hashlib.sha256(f"{method}&{path}&{query}".encode()).hexdigest()


def connect_token(*, secret: str = SHARED, now: int = NOW, **claims: Any) -> str:
    payload = {"iss": CLIENT_KEY, "iat": now, "exp": now + 180, "qsh": qsh("POST", "/13", "user_id=admin"), **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


def sign(body: bytes, *, secret: str | None = None, connect: bool = False, now: int = NOW) -> dict[str, str]:
    """Admin webhook X-Hub-Signature (sha256=hex HMAC of the body, default key SECRET), or with connect=True
    a Connect ``Authorization: JWT`` for a POST to URL (default key SHARED)."""
    if connect:
        secrets = [secret or SHARED, f"iss={CLIENT_KEY}"]
        return verifiers.sign("jira", secrets=secrets, body=body, url=URL, now=now, scheme="connect")
    return verifiers.sign("jira", secrets=[secret or SECRET], body=body)


def _verify(
    headers: dict[str, str],
    body: bytes = BODY,
    *,
    secrets: list[str] | None = None,
    url: str = URL,
    method: str = "POST",
    now: float = NOW,
) -> None:
    default = [SHARED] if "authorization" in headers else [SECRET]
    verifiers.verify(
        "jira",
        secrets=default if secrets is None else secrets,
        headers=headers,
        body=body,
        method=method,
        url=url,
        now=now,
    )


def test_admin_webhook_valid() -> None:
    _verify(sign(BODY))


def test_connect_valid() -> None:
    _verify(sign(BODY, connect=True))


def test_javadoc_canonical_request() -> None:
    token = connect_token(qsh=hashlib.sha256(JAVADOC_CANONICAL.encode()).hexdigest())
    _verify({"authorization": f"JWT {token}"}, b"", method="GET", url=JAVADOC_URL)


def test_qsh_issued_by_jira() -> None:
    token = connect_token(qsh=GIST_QSH)
    _verify({"authorization": f"JWT {token}"}, b"", method="GET", url=GIST_URL)
    with pytest.raises(SignatureMismatch):
        _verify({"authorization": f"JWT {token}"}, b"", method="POST", url=GIST_URL)


def test_qsh_full_path_and_context_path_suffixes() -> None:
    # The app's baseUrl may or may not include the router's path prefix.
    for path in ("/webhook/triggers/connect/jira/13", "/jira/13", "/13"):
        token = connect_token(qsh=qsh("POST", path, "user_id=admin"))
        _verify({"authorization": f"JWT {token}"})


def test_qsh_encodes_like_oauth1() -> None:
    url = "https://hooks.example.com/hook?b=x+y*z~&a=%26&a=%2C"
    token = connect_token(qsh=qsh("POST", "/hook", "a=%26,%2C&b=x%20y%2Az~"))
    _verify({"authorization": f"JWT {token}"}, url=url)


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "now", "error"),
    [
        pytest.param(sign(BODY), BODY + b" ", [SECRET], NOW, SignatureMismatch, id="tampered-body"),
        pytest.param(sign(BODY), BODY, ["other"], NOW, SignatureMismatch, id="wrong-secret"),
        pytest.param({}, BODY, [SECRET], NOW, MissingHeader, id="missing-header"),
        pytest.param({"x-hub-signature": "sha1=00"}, BODY, [SECRET], NOW, SignatureMismatch, id="garbled"),
        pytest.param(
            {"x-hub-signature-256": sign(BODY)["x-hub-signature"]}, BODY, [SECRET], NOW, MissingHeader, id="github-name"
        ),
        pytest.param(sign(BODY), BODY, [], NOW, MissingSecret, id="no-secret"),
        pytest.param(sign(BODY, connect=True), BODY, ["x" * 40], NOW, SignatureMismatch, id="connect-wrong-secret"),
        pytest.param(sign(BODY, connect=True), BODY, [SHARED], NOW + 241, TimestampOutOfRange, id="connect-expired"),
        pytest.param(sign(BODY, connect=True), BODY, [SHARED], NOW - 61, TimestampOutOfRange, id="connect-future-iat"),
        pytest.param({"authorization": "JWT abc"}, BODY, [SHARED], NOW, MalformedHeader, id="connect-garbled"),
        pytest.param(
            {"authorization": f"JWT {connect_token(qsh='context-qsh')}"},
            BODY,
            [SHARED],
            NOW,
            SignatureMismatch,
            id="context-qsh",
        ),
        pytest.param(
            {"authorization": f"JWT {connect_token(qsh=qsh('GET', '/13', 'user_id=admin'))}"},
            BODY,
            [SHARED],
            NOW,
            SignatureMismatch,
            id="qsh-other-method",
        ),
        pytest.param(
            {"authorization": f"JWT {connect_token(qsh=qsh('POST', '/13', ''))}"},
            BODY,
            [SHARED],
            NOW,
            SignatureMismatch,
            id="qsh-other-query",
        ),
        pytest.param(
            {"authorization": f"JWT {connect_token(iss='')}"}, BODY, [SHARED], NOW, MalformedHeader, id="no-iss"
        ),
        pytest.param(
            {"authorization": f"JWT {connect_token(exp=float('nan'))}"},
            BODY,
            [SHARED],
            NOW,
            MalformedHeader,
            id="nan-exp",
        ),
        pytest.param(
            {"authorization": "JWT " + jwt.encode({"iss": CLIENT_KEY}, SHARED * 2, algorithm="HS512")},
            BODY,
            [SHARED],
            NOW,
            UnsupportedVersion,
            id="hs512",
        ),
        pytest.param(
            {"authorization": "JWT " + jwt.encode({"iss": CLIENT_KEY}, "", algorithm="none")},
            BODY,
            [SHARED],
            NOW,
            UnsupportedVersion,
            id="alg-none",
        ),
    ],
)
def test_rejects(
    headers: dict[str, str], body: bytes, secrets: list[str], now: float, error: type[VerificationError]
) -> None:
    with pytest.raises(error) as info:
        _verify(headers, body, secrets=secrets, now=now)
    assert info.value.reason == error.reason


def test_connect_token_without_exp_is_refused() -> None:
    token = jwt.encode({"iss": CLIENT_KEY, "qsh": qsh("POST", "/13", "user_id=admin")}, SHARED, algorithm="HS256")
    with pytest.raises(MalformedHeader):
        _verify({"authorization": f"JWT {token}"})


@pytest.mark.parametrize("connect", [False, True])
def test_rotated_secret_accepted(connect: bool) -> None:
    old = "old-shared-secret-0123456789abcdefgh"
    _verify(sign(BODY, secret=old, connect=connect), secrets=["new-shared-secret-0123456789abcdefgh", old])


def test_no_handshake() -> None:
    assert verifiers.handshake("jira", secrets=[SECRET], headers=sign(BODY), body=BODY, url=URL, now=NOW) is None


def test_extract_admin_webhook_site() -> None:
    headers = {**sign(BODY), "x-atlassian-webhook-identifier": "1-2-3"}
    [info] = verifiers.extract("jira", headers=headers, body=BODY, url=URL)
    assert info == verifiers.EventInfo("https://acme.atlassian.net", "jira:issue_created", "1-2-3")


def test_extract_connect_client_key() -> None:
    [info] = verifiers.extract("jira", headers=sign(BODY, connect=True), body=BODY, url=URL)
    assert info.provider_id == CLIENT_KEY


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=256),
    auth=st.one_of(st.text(max_size=120), st.builds(lambda t: f"JWT {t}", st.text(max_size=200))),
    sig=st.text(max_size=80),
)
def test_only_verification_errors_escape(body: bytes, auth: str, sig: str) -> None:
    for headers in ({"authorization": auth}, {"x-hub-signature": sig}):
        for call in (verifiers.verify, verifiers.handshake):
            with contextlib.suppress(VerificationError):
                call("jira", secrets=[SHARED], headers=headers, body=body, url=URL, now=NOW)
        verifiers.extract("jira", headers=headers, body=body, url=URL)


def test_deeply_nested_jwt_header_is_malformed_not_a_crash() -> None:
    header = base64.urlsafe_b64encode(b"[" * 5000).rstrip(b"=").decode()
    with pytest.raises(MalformedHeader):
        _verify({"authorization": f"JWT {header}.e30.sig"})
