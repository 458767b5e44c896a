from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import MalformedBody, MissingHeader, MissingSecret, SignatureMismatch, VerificationError

# Notion publishes no signed example (developers.notion.com/reference/webhooks); tests sign with sign().
SECRET = "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"
BODY = json.dumps(
    {
        "id": "367cba44-b6f3-4c92-81e7-6a2e9659efd4",
        "timestamp": "2024-12-05T23:55:34.285Z",
        "workspace_id": "13950b26-c203-4f3b-b97d-93ec06319565",
        "workspace_name": "Quantify Labs",
        "subscription_id": "29d75c0d-5546-4414-8459-7b7a92f1fc4b",
        "integration_id": "0ef2e755-4912-8096-91c1-00376a88a5ca",
        "type": "page.created",
        "authors": [{"id": "c7c11cca-1d73-471d-9b6e-bdef51470190", "type": "person"}],
        "accessible_by": [{"id": "556a1abf-4f08-40c6-878a-75890d2a88ba", "type": "person"}],
        "attempt_number": 1,
        "entity": {"id": "153104cd-477e-809d-8dc4-ff2d96ae3090", "type": "page"},
        "data": {"parent": {"id": "13950b26-c203-4f3b-b97d-93ec06319565", "type": "space"}},
    }
).encode()


def sign(body: bytes, *, secret: str = SECRET) -> dict[str, str]:
    return verifiers.sign("notion", secrets=[secret], body=body)


def _verify(headers: dict[str, str], body: bytes = BODY, *, secrets: list[str] | None = None) -> None:
    verifiers.verify("notion", secrets=[SECRET] if secrets is None else secrets, headers=headers, body=body)


def test_valid() -> None:
    _verify(sign(BODY))


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "error"),
    [
        pytest.param(sign(BODY), BODY + b" ", [SECRET], SignatureMismatch, id="tampered-body"),
        pytest.param(sign(BODY), BODY, ["secret_other"], SignatureMismatch, id="wrong-secret"),
        pytest.param({}, BODY, [SECRET], MissingHeader, id="missing-header"),
        pytest.param(
            {"x-notion-signature": sign(BODY)["x-notion-signature"].removeprefix("sha256=")},
            BODY,
            [SECRET],
            SignatureMismatch,
            id="no-prefix",
        ),
        pytest.param({"x-notion-signature": "sha256=\u00e9"}, BODY, [SECRET], SignatureMismatch, id="garbled"),
        pytest.param(sign(BODY), BODY, [], MissingSecret, id="no-secret"),
    ],
)
def test_rejects(headers: dict[str, str], body: bytes, secrets: list[str], error: type[VerificationError]) -> None:
    with pytest.raises(error) as info:
        _verify(headers, body, secrets=secrets)
    assert info.value.reason == error.reason


def test_rotated_secret_accepted() -> None:
    _verify(sign(BODY, secret="secret_old"), secrets=["secret_new", "secret_old"])


def test_verification_request_is_persisted() -> None:
    # The verification POST is unsigned and arrives before any token is configured.
    body = b'{"verification_token":"secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"}'
    reply = verifiers.handshake("notion", secrets=[], headers={"content-type": "application/json"}, body=body)
    assert reply is not None and reply.status == 200
    assert reply.persist == {"verification_token": "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"}


@pytest.mark.parametrize(
    "body",
    [
        b'{"verification_token": 7}',
        b'{"verification_token": ""}',
        b'{"verification_token": "a\\nb"}',
        json.dumps({"verification_token": "x" * 513}).encode(),
    ],
)
def test_odd_verification_tokens_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedBody):
        verifiers.handshake("notion", secrets=[], headers={}, body=body)


def test_events_are_not_handshakes() -> None:
    assert verifiers.handshake("notion", secrets=[SECRET], headers=sign(BODY), body=BODY) is None
    assert (
        verifiers.handshake("notion", secrets=[], headers={}, body=b'{"verification_token":"t"}', method="GET") is None
    )


def test_extract() -> None:
    [info] = verifiers.extract("notion", headers=sign(BODY), body=BODY)
    assert info == verifiers.EventInfo(
        "13950b26-c203-4f3b-b97d-93ec06319565", "page.created", "367cba44-b6f3-4c92-81e7-6a2e9659efd4"
    )


@settings(max_examples=200, deadline=None)
@given(
    body=st.one_of(
        st.binary(max_size=256), st.builds(lambda t: json.dumps({"verification_token": t}).encode(), st.text())
    ),
    sig=st.text(max_size=80),
)
def test_only_verification_errors_escape(body: bytes, sig: str) -> None:
    headers = {"x-notion-signature": sig}
    for call in (verifiers.verify, verifiers.handshake):
        with contextlib.suppress(VerificationError):
            call("notion", secrets=[SECRET], headers=headers, body=body)
    verifiers.extract("notion", headers=headers, body=body)
