from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import MissingHeader, MissingSecret, SignatureMismatch, VerificationError

# Intuit publishes no signed example (developer.intuit.com/app/developer/qbo/docs/develop/webhooks);
# tests sign with sign(). The legacy payload follows the documented eventNotifications shape.
SECRET = "intuit-verifier-token"
LEGACY = {
    "eventNotifications": [
        {
            "realmId": "1185883450",
            "dataChangeEvent": {
                "entities": [
                    {"name": "Customer", "id": "1", "operation": "Create", "lastUpdated": "2015-10-05T14:42:19-0700"},
                    {"name": "Vendor", "id": "1", "operation": "Create", "lastUpdated": "2015-10-05T14:42:19-0700"},
                ]
            },
        },
        {
            "realmId": "9130347596",
            "dataChangeEvent": {"entities": [{"name": "Invoice", "id": "9", "operation": "Update"}]},
        },
    ]
}
BODY = json.dumps(LEGACY).encode()
CLOUD = [
    {
        "specversion": "1.0",
        "id": "88cd52a1-4b9f-4c6c-9e2e-5b3a7b7a0c11",
        "source": "intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU=",
        "type": "qbo.customer.created.v1",
        "datacontenttype": "application/json",
        "time": "2025-09-10T21:31:25.179Z",
        "intuitentityid": "1234",
        "intuitaccountid": "310687",
        "data": {},
    }
]


def sign(body: bytes, *, secret: str = SECRET) -> dict[str, str]:
    return verifiers.sign("quickbooks", secrets=[secret], body=body)


def _verify(headers: dict[str, str], body: bytes = BODY, *, secrets: list[str] | None = None) -> None:
    verifiers.verify("quickbooks", secrets=[SECRET] if secrets is None else secrets, headers=headers, body=body)


def test_valid() -> None:
    _verify(sign(BODY))


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "error"),
    [
        pytest.param(sign(BODY), BODY + b" ", [SECRET], SignatureMismatch, id="tampered-body"),
        pytest.param(sign(BODY), BODY, ["other"], SignatureMismatch, id="wrong-secret"),
        pytest.param({}, BODY, [SECRET], MissingHeader, id="missing-header"),
        pytest.param({"intuit-signature": "=="}, BODY, [SECRET], SignatureMismatch, id="garbled"),
        pytest.param(sign(BODY), BODY, [], MissingSecret, id="no-secret"),
    ],
)
def test_rejects(headers: dict[str, str], body: bytes, secrets: list[str], error: type[VerificationError]) -> None:
    with pytest.raises(error) as info:
        _verify(headers, body, secrets=secrets)
    assert info.value.reason == error.reason


def test_rotated_secret_accepted() -> None:
    _verify(sign(BODY, secret="old"), secrets=["new", "old"])


def test_no_handshake() -> None:
    assert verifiers.handshake("quickbooks", secrets=[SECRET], headers=sign(BODY), body=BODY) is None


def test_extract_legacy_splits_by_realm() -> None:
    infos = verifiers.extract("quickbooks", headers=sign(BODY), body=BODY)
    assert [(i.provider_id, i.event_type, i.delivery_id) for i in infos] == [
        ("1185883450", "Customer.Create", ""),
        ("9130347596", "Invoice.Update", ""),
    ]
    assert [json.loads(i.body or b"") for i in infos] == LEGACY["eventNotifications"]


def test_extract_cloudevents() -> None:
    body = json.dumps(CLOUD).encode()
    [info] = verifiers.extract("quickbooks", headers=sign(body), body=body)
    assert (info.provider_id, info.event_type, info.delivery_id) == (
        "310687",
        "qbo.customer.created.v1",
        "88cd52a1-4b9f-4c6c-9e2e-5b3a7b7a0c11",
    )
    assert json.loads(info.body or b"") == CLOUD[0]


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), sig=st.text(max_size=80))
def test_only_verification_errors_escape(body: bytes, sig: str) -> None:
    headers = {"intuit-signature": sig}
    for call in (verifiers.verify, verifiers.handshake):
        with contextlib.suppress(VerificationError):
            call("quickbooks", secrets=[SECRET], headers=headers, body=body)
    verifiers.extract("quickbooks", headers=headers, body=body)
