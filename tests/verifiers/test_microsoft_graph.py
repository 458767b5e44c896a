from __future__ import annotations

import contextlib
import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import MalformedBody, MissingSecret, SignatureMismatch, VerificationError

# Graph basic notifications are unsigned: there is no published vector. The notification shape follows
# learn.microsoft.com/en-us/graph/api/resources/changenotification; the clientState is our secret.
SECRET = "secretClientValue"
URL = "https://hooks.example.com/webhook/triggers/connect/outlook/9"


def notification(state: object = SECRET, **extra: Any) -> dict[str, Any]:
    return {
        "id": "lsgTZMr9KwAAA",
        "subscriptionId": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
        "subscriptionExpirationDateTime": "2016-11-20T18:23:45.9356913Z",
        "clientState": state,
        "changeType": "created",
        "resource": "Users/{user_guid}/Messages/{message_id}",
        "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
        "resourceData": {"@odata.type": "#Microsoft.Graph.Message", "id": "{message_id}"},
        **extra,
    }


def body_of(*items: dict[str, Any]) -> bytes:
    return json.dumps({"value": list(items)}).encode()


BODY = body_of(notification())


def sign(body: bytes, *, secret: str = SECRET) -> dict[str, str]:
    """Graph sends no signature header: the secret is each notification's clientState (see notification())."""
    return {"content-type": "application/json"}


def _verify(body: bytes, *, secrets: list[str] | None = None, provider: str = "microsoft_graph") -> None:
    verifiers.verify(provider, secrets=[SECRET] if secrets is None else secrets, headers=sign(body), body=body, url=URL)


@pytest.mark.parametrize("provider", ["microsoft_graph", "onedrive", "outlook", "microsoft-teams", "sharepoint"])
def test_valid_under_every_alias(provider: str) -> None:
    _verify(BODY, provider=provider)


def test_batch_with_every_client_state_valid() -> None:
    _verify(body_of(notification(), notification(changeType="updated")))


@pytest.mark.parametrize(
    ("body", "secrets", "error"),
    [
        pytest.param(body_of(notification("guess")), [SECRET], SignatureMismatch, id="wrong-client-state"),
        pytest.param(BODY, ["other"], SignatureMismatch, id="wrong-secret"),
        pytest.param(
            body_of(notification(), notification("forged")), [SECRET], SignatureMismatch, id="one-forged-in-batch"
        ),
        pytest.param(body_of({"changeType": "created"}), [SECRET], SignatureMismatch, id="missing-client-state"),
        pytest.param(body_of(notification(7)), [SECRET], SignatureMismatch, id="non-string-client-state"),
        pytest.param(body_of(notification(SECRET[:-1])), [SECRET], SignatureMismatch, id="prefix-of-secret"),
        pytest.param(b'{"value": []}', [SECRET], MalformedBody, id="empty-batch"),
        pytest.param(b"not json", [SECRET], MalformedBody, id="garbled-body"),
        pytest.param(b'[{"clientState": "secretClientValue"}]', [SECRET], MalformedBody, id="array-body"),
        pytest.param(BODY, [], MissingSecret, id="no-secret"),
    ],
)
def test_rejects(body: bytes, secrets: list[str], error: type[VerificationError]) -> None:
    with pytest.raises(error) as info:
        _verify(body, secrets=secrets)
    assert info.value.reason == error.reason


def test_rotated_secret_accepted() -> None:
    _verify(body_of(notification("old")), secrets=["new", "old"])


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_validation_token_is_echoed_decoded(method: str) -> None:
    token = "Validation: Testing client application reachability for subscription Request-Id: 3b3f9821-ce3f"
    reply = verifiers.handshake(
        "outlook", secrets=[SECRET], headers={}, body=b"", method=method, url=f"{URL}?validationToken={quote(token)}"
    )
    assert reply is not None
    assert (reply.status, reply.body) == (200, token.encode())
    assert reply.headers["content-type"].startswith("text/plain")
    assert reply.headers["x-content-type-options"] == "nosniff"


def test_notifications_are_not_handshakes() -> None:
    assert verifiers.handshake("microsoft_graph", secrets=[SECRET], headers={}, body=BODY, url=URL) is None
    assert (
        verifiers.handshake(
            "microsoft_graph", secrets=[SECRET], headers={}, body=b"", method="PUT", url=f"{URL}?validationToken=x"
        )
        is None
    )


def test_extract_splits_the_batch() -> None:
    lifecycle = notification(lifecycleEvent="reauthorizationRequired", tenantId="t-2")
    del lifecycle["id"]
    body = body_of(notification(), lifecycle)
    first, second = verifiers.extract("sharepoint", headers={}, body=body)
    assert (first.provider_id, first.event_type, first.delivery_id) == (
        "84bd8158-6d4d-4958-8b9f-9d6445542f95",
        "created",
        "lsgTZMr9KwAAA",
    )
    assert json.loads(first.body or b"") == notification()
    assert (second.provider_id, second.event_type, second.delivery_id) == ("t-2", "reauthorizationRequired", "")


@settings(max_examples=200, deadline=None)
@given(
    body=st.one_of(st.binary(max_size=256), st.builds(lambda s: body_of(notification(s)), st.text(max_size=40))),
    query=st.text(max_size=80),
    method=st.sampled_from(["GET", "POST"]),
)
def test_only_verification_errors_escape(body: bytes, query: str, method: str) -> None:
    url = f"{URL}?validationToken={query}"
    for call in (verifiers.verify, verifiers.handshake):
        with contextlib.suppress(VerificationError):
            call("microsoft_graph", secrets=[SECRET], headers={}, body=body, method=method, url=url)
    verifiers.extract("microsoft_graph", headers={}, body=body, method=method, url=url)
