from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import MissingHeader, MissingSecret, SignatureMismatch, VerificationError

# Vector from christophercliff/hapi-dropbox-webhooks test/index.js (npm hapi-dropbox-webhooks):
# app secret "the_secret", legacy delta payload, and the X-Dropbox-Signature it sends.
VECTOR_SECRET = "the_secret"
VECTOR_BODY = b'{"delta": {"users": [12345]}}'
VECTOR_SIGNATURE = "0a8c16b085420b960dc78664279fe09e936a2a01b1f91064869d9e77dfd64529"
VECTOR_CHALLENGE = "the_challenge"

SECRET = "dropbox-app-secret"
URL = "https://hooks.example.com/webhook/triggers/connect/dropbox/5"
BODY = (
    b'{"list_folder": {"accounts": ["dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc", "dbid:AAB2"]}, "delta": {"users": [1]}}'
)


def sign(body: bytes, *, secret: str = SECRET) -> dict[str, str]:
    return verifiers.sign("dropbox", secrets=[secret], body=body)


def _verify(headers: dict[str, str], body: bytes = BODY, *, secrets: list[str] | None = None) -> None:
    verifiers.verify("dropbox", secrets=[SECRET] if secrets is None else secrets, headers=headers, body=body, url=URL)


def test_hapi_dropbox_webhooks_vector() -> None:
    assert sign(VECTOR_BODY, secret=VECTOR_SECRET) == {"x-dropbox-signature": VECTOR_SIGNATURE}
    _verify({"X-Dropbox-Signature": VECTOR_SIGNATURE}, VECTOR_BODY, secrets=[VECTOR_SECRET])


def test_hapi_dropbox_webhooks_bogus_signature_rejected() -> None:
    # The same test suite's "unsigned" request: 64 x characters.
    with pytest.raises(SignatureMismatch):
        _verify({"x-dropbox-signature": "x" * 64}, VECTOR_BODY, secrets=[VECTOR_SECRET])


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "error"),
    [
        pytest.param(sign(BODY), BODY + b" ", [SECRET], SignatureMismatch, id="tampered-body"),
        pytest.param(sign(BODY), BODY, ["other"], SignatureMismatch, id="wrong-secret"),
        pytest.param({}, BODY, [SECRET], MissingHeader, id="missing-header"),
        pytest.param({"x-dropbox-signature": "sha256=zz"}, BODY, [SECRET], SignatureMismatch, id="garbled"),
        pytest.param(sign(BODY), BODY, [], MissingSecret, id="no-secret"),
    ],
)
def test_rejects(headers: dict[str, str], body: bytes, secrets: list[str], error: type[VerificationError]) -> None:
    with pytest.raises(error) as info:
        _verify(headers, body, secrets=secrets)
    assert info.value.reason == error.reason


def test_rotated_secret_accepted() -> None:
    _verify(sign(BODY, secret="old"), secrets=["new", "old"])


def test_challenge_is_echoed() -> None:
    # The hapi-dropbox-webhooks suite's GET ?challenge=the_challenge expects 200 and the challenge back.
    reply = verifiers.handshake(
        "dropbox", secrets=[SECRET], headers={}, body=b"", method="GET", url=f"{URL}?challenge={VECTOR_CHALLENGE}"
    )
    assert reply is not None
    assert (reply.status, reply.body) == (200, VECTOR_CHALLENGE.encode())
    assert reply.headers["content-type"].startswith("text/plain")
    assert reply.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(("method", "url"), [("POST", f"{URL}?challenge=x"), ("GET", URL)])
def test_not_a_challenge(method: str, url: str) -> None:
    assert verifiers.handshake("dropbox", secrets=[SECRET], headers={}, body=BODY, method=method, url=url) is None


def test_extract_splits_accounts() -> None:
    infos = verifiers.extract("dropbox", headers=sign(BODY), body=BODY)
    assert [(i.provider_id, i.event_type) for i in infos] == [
        ("dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc", "list_folder"),
        ("dbid:AAB2", "list_folder"),
        ("1", "delta"),
    ]
    assert json.loads(infos[1].body or b"") == {"list_folder": {"accounts": ["dbid:AAB2"]}}


def test_extract_legacy_vector() -> None:
    [info] = verifiers.extract("dropbox", headers={}, body=VECTOR_BODY)
    assert (info.provider_id, info.event_type) == ("12345", "delta")


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), sig=st.text(max_size=80), query=st.text(max_size=40))
def test_only_verification_errors_escape(body: bytes, sig: str, query: str) -> None:
    headers = {"x-dropbox-signature": sig}
    for method in ("GET", "POST"):
        for call in (verifiers.verify, verifiers.handshake):
            with contextlib.suppress(VerificationError):
                call(
                    "dropbox",
                    secrets=[SECRET],
                    headers=headers,
                    body=body,
                    method=method,
                    url=f"{URL}?challenge={query}",
                )
    verifiers.extract("dropbox", headers=headers, body=body)
