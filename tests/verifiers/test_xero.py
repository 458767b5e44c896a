from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import MissingHeader, MissingSecret, SignatureMismatch, VerificationError

# Xero publishes no signed example (developer.xero.com/documentation/guides/webhooks/); tests sign with
# sign(). The Intent-to-Receive body below is the shape Xero sends: empty events, zero sequences.
SECRET = "xero-webhook-key"
ITR = b'{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"FMLHZNKCVK"}'
EVENT_1 = {
    "resourceUrl": "https://api.xero.com/api.xro/2.0/Contacts/717f2bfc-c6d4-41fd-b238-3f2f0c0cf777",
    "resourceId": "717f2bfc-c6d4-41fd-b238-3f2f0c0cf777",
    "eventDateUtc": "2017-06-21T01:15:39.902",
    "eventType": "UPDATE",
    "eventCategory": "CONTACT",
    "tenantId": "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f",
    "tenantType": "ORGANISATION",
}
EVENT_2 = {**EVENT_1, "eventType": "CREATE", "eventCategory": "INVOICE", "tenantId": "2e8d0b2c-0000"}
BODY = json.dumps(
    {"events": [EVENT_1, EVENT_2], "firstEventSequence": 1, "lastEventSequence": 2, "entropy": "S0M3"}
).encode()


def sign(body: bytes, *, secret: str = SECRET) -> dict[str, str]:
    return verifiers.sign("xero", secrets=[secret], body=body)


def _verify(headers: dict[str, str], body: bytes = BODY, *, secrets: list[str] | None = None) -> None:
    verifiers.verify("xero", secrets=[SECRET] if secrets is None else secrets, headers=headers, body=body)


def test_valid() -> None:
    _verify(sign(BODY))


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "error"),
    [
        pytest.param(sign(BODY), BODY + b" ", [SECRET], SignatureMismatch, id="tampered-body"),
        pytest.param(sign(BODY), BODY, ["other"], SignatureMismatch, id="wrong-secret"),
        pytest.param({}, BODY, [SECRET], MissingHeader, id="missing-header"),
        pytest.param({"x-xero-signature": "\x00\x01"}, BODY, [SECRET], SignatureMismatch, id="garbled"),
        pytest.param(sign(BODY), BODY, [], MissingSecret, id="no-secret"),
    ],
)
def test_rejects(headers: dict[str, str], body: bytes, secrets: list[str], error: type[VerificationError]) -> None:
    with pytest.raises(error) as info:
        _verify(headers, body, secrets=secrets)
    assert info.value.reason == error.reason


def test_rotated_secret_accepted() -> None:
    _verify(sign(BODY, secret="old"), secrets=["new", "old"])


def test_intent_to_receive_valid_gets_200_and_empty_body() -> None:
    reply = verifiers.handshake("xero", secrets=[SECRET], headers=sign(ITR), body=ITR)
    assert reply is not None and (reply.status, reply.body) == (200, b"")


@pytest.mark.parametrize("headers", [sign(ITR, secret="wrong"), {}])
def test_intent_to_receive_invalid_raises_for_401(headers: dict[str, str]) -> None:
    with pytest.raises(VerificationError):
        verifiers.handshake("xero", secrets=[SECRET], headers=headers, body=ITR)


def test_event_batches_are_not_handshakes() -> None:
    assert verifiers.handshake("xero", secrets=[SECRET], headers=sign(BODY), body=BODY) is None


def test_extract_splits_events() -> None:
    infos = verifiers.extract("xero", headers=sign(BODY), body=BODY)
    assert [(i.provider_id, i.event_type, i.delivery_id) for i in infos] == [
        ("c2cc9b6e-9458-4c7d-93cc-f02b81b0594f", "CONTACT.UPDATE", ""),
        ("2e8d0b2c-0000", "INVOICE.CREATE", ""),
    ]
    assert [json.loads(i.body or b"") for i in infos] == [EVENT_1, EVENT_2]


def test_extract_itr_has_no_event() -> None:
    assert verifiers.extract("xero", headers={}, body=ITR) == [verifiers.EventInfo()]


@settings(max_examples=200, deadline=None)
@given(
    body=st.one_of(st.binary(max_size=256), st.just(ITR)),
    sig=st.text(max_size=80),
)
def test_only_verification_errors_escape(body: bytes, sig: str) -> None:
    headers = {"x-xero-signature": sig}
    for call in (verifiers.verify, verifiers.handshake):
        with contextlib.suppress(VerificationError):
            call("xero", secrets=[SECRET], headers=headers, body=body)
    verifiers.extract("xero", headers=headers, body=body)
