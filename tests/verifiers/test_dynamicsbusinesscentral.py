from __future__ import annotations

import contextlib
import json
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import MalformedBody, MissingSecret, SignatureMismatch, VerificationError

# Sample notification payload published in "Working with webhooks in Dynamics 365 Business Central"
# (MicrosoftDocs/dynamics365smb-devitpro-pb, dev-itpro/api-reference/v2.0/dynamics-subscriptions.md),
# quoted as published. Business Central signs nothing; its clientState is the shared secret.
SECRET = "someClientState"
URL = "https://hooks.example.com/webhook/triggers/connect/dynamicsbusinesscentral/3"
SAMPLE = {
    "value": [
        {
            "subscriptionId": "webhookItemsId",
            "clientState": "someClientState",
            "expirationDateTime": "2018-10-29T07:52:31Z",
            "resource": "api/v2.0/companies(b18aed47-c385-49d2-b954-dbdf8ad71780)"
            "/items(26814998-936a-401c-81c1-0e848a64971d)",
            "changeType": "updated",
            "lastModifiedDateTime": "2018-10-26T12:54:20.467Z",
        },
        {
            "subscriptionId": "webhookCustomersId",
            "clientState": "someClientState",
            "expirationDateTime": "2018-10-29T12:50:30Z",
            "resource": "api/v2.0/companies(b18aed47-c385-49d2-b954-dbdf8ad71780)"
            "/customers(130bbd17-dbb9-4790-9b12-2b0e9c9d22c3)",
            "changeType": "created",
            "lastModifiedDateTime": "2018-10-26T12:54:26.057Z",
        },
        {
            "subscriptionId": "webhookCustomersId",
            "clientState": "someClientState",
            "expirationDateTime": "2018-10-29T12:50:30Z",
            "resource": "api/v2.0/companies(b18aed47-c385-49d2-b954-dbdf8ad71780)"
            "/customers(4b4f31f0-dc1c-4033-b2aa-ab03ca1d6ebc)",
            "changeType": "deleted",
            "lastModifiedDateTime": "2018-10-26T12:54:30.503Z",
        },
        {
            "subscriptionId": "salesInvoice",
            "clientState": "someClientState",
            "expirationDateTime": "2018-10-20T10:55:01Z",
            "resource": "/api/v2.0/companies(7dbba574-5f69-4167-a43e-fb975045de15)"
            "/salesInvoices?$filter=lastDateTimeModified%20gt%202018-10-15T11:00:00Z",
            "changeType": "collection",
            "lastModifiedDateTime": "2018-10-26T12:54:30.503Z",
        },
    ]
}
BODY = json.dumps(SAMPLE).encode()


def sign(body: bytes, *, secret: str = SECRET) -> dict[str, str]:
    """Business Central sends no signature header: the secret is each item's clientState."""
    return {"content-type": "application/json"}


def _verify(body: bytes = BODY, *, secrets: list[str] | None = None) -> None:
    verifiers.verify(
        "dynamicsbusinesscentral",
        secrets=[SECRET] if secrets is None else secrets,
        headers=sign(body),
        body=body,
        url=URL,
    )


def test_published_sample_verifies() -> None:
    _verify()


def _with_state(index: int, state: object) -> bytes:
    data = json.loads(BODY)
    data["value"][index]["clientState"] = state
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("body", "secrets", "error"),
    [
        pytest.param(_with_state(3, "forged"), [SECRET], SignatureMismatch, id="one-forged-in-batch"),
        pytest.param(BODY, ["other"], SignatureMismatch, id="wrong-secret"),
        pytest.param(_with_state(0, None), [SECRET], SignatureMismatch, id="missing-client-state"),
        pytest.param(b'{"value": "x"}', [SECRET], MalformedBody, id="garbled-value"),
        pytest.param(b"\xff", [SECRET], MalformedBody, id="garbled-body"),
        pytest.param(BODY, [], MissingSecret, id="no-secret"),
    ],
)
def test_rejects(body: bytes, secrets: list[str], error: type[VerificationError]) -> None:
    with pytest.raises(error) as info:
        _verify(body, secrets=secrets)
    assert info.value.reason == error.reason


def test_rotated_secret_accepted() -> None:
    _verify(secrets=["newState", SECRET])


def test_validation_token_handshake() -> None:
    token = "aa3f1b7e-7e16-4d3f-a7d8-2a3bfce0aa1c"
    reply = verifiers.handshake(
        "dynamicsbusinesscentral", secrets=[SECRET], headers={}, body=b"", url=f"{URL}?validationToken={quote(token)}"
    )
    assert reply is not None and (reply.status, reply.body) == (200, token.encode())
    assert verifiers.handshake("dynamicsbusinesscentral", secrets=[SECRET], headers={}, body=BODY, url=URL) is None


def test_extract_splits_by_company() -> None:
    infos = verifiers.extract("dynamicsbusinesscentral", headers={}, body=BODY, url=URL)
    assert [(i.provider_id, i.event_type, i.delivery_id) for i in infos] == [
        ("b18aed47-c385-49d2-b954-dbdf8ad71780", "updated", ""),
        ("b18aed47-c385-49d2-b954-dbdf8ad71780", "created", ""),
        ("b18aed47-c385-49d2-b954-dbdf8ad71780", "deleted", ""),
        ("7dbba574-5f69-4167-a43e-fb975045de15", "collection", ""),
    ]
    assert [json.loads(i.body or b"") for i in infos] == SAMPLE["value"]


def test_extract_without_company_falls_back_to_subscription() -> None:
    body = json.dumps({"value": [{"subscriptionId": "sub-1", "resource": "api/v2.0/items", "changeType": "updated"}]})
    [info] = verifiers.extract("dynamicsbusinesscentral", headers={}, body=body.encode())
    assert info.provider_id == "sub-1"


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), query=st.text(max_size=80))
def test_only_verification_errors_escape(body: bytes, query: str) -> None:
    url = f"{URL}?validationToken={query}"
    for call in (verifiers.verify, verifiers.handshake):
        with contextlib.suppress(VerificationError):
            call("dynamicsbusinesscentral", secrets=[SECRET], headers={}, body=body, url=url)
    verifiers.extract("dynamicsbusinesscentral", headers={}, body=body, url=url)
