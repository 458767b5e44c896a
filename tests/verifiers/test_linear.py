from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import (
    MalformedBody,
    MissingHeader,
    MissingSecret,
    SignatureMismatch,
    TimestampOutOfRange,
    VerificationError,
)

# linear/linear packages/sdk/src/_tests/LinearWebhooks.test.ts: the SDK test's comment payload, serialised
# as JSON.stringify does, secret "SECRET", webhookTimestamp 1677611643000. The test publishes no digest; this
# one was computed independently (HMAC-SHA256 hex over these exact bytes).
SDK_SECRET = "SECRET"
SDK_BODY = (
    b'{"action":"create","data":{"id":"2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9","createdAt":"2020-01-23T12:53:18.084Z",'
    b'"updatedAt":"2020-01-23T12:53:18.084Z","archivedAt":null,"body":"Indeed, I think this is definitely an '
    b'improvement over the previous version.","edited":false,"issueId":"539068e2-ae88-4d09-bd75-22eb4a59612f",'
    b'"userId":"aacdca22-6266-4c0a-ab3c-8fa70a26765c"},"type":"Comment","url":"https://linear.app/issue/LIN-1778/'
    b'foo-bar#comment-77217de3-fb52-4dad-bb9a-b356beb93de8","createdAt":"2020-01-23T12:53:18.084Z",'
    b'"webhookTimestamp":1677611643000}'
)
SDK_SIGNATURE = "8790fcbbea809950be9198408593c2a13f7591bba6c61adb589f709b5e1b186a"
SDK_NOW = 1677611643.0

SECRET = "lin_wh_test_secret"
NOW = 1_700_000_000.0
DELIVERY = "234d1a4e-b617-4388-90fe-adc3633d6b72"


def payload(now: float = NOW, **fields: Any) -> bytes:
    data: dict[str, Any] = {
        "action": "update",
        "type": "Issue",
        "data": {"id": "issue-1", "title": "Fix it"},
        "organizationId": "org-42",
        "webhookId": "wh-7",
        "webhookTimestamp": int(now * 1000),
    }
    data.update(fields)
    return json.dumps(data, separators=(",", ":")).encode()


def sign(body: bytes, *, secret: str = SECRET, event: str = "Issue", delivery: str = DELIVERY) -> dict[str, str]:
    """Headers for ``body``; the timestamp Linear signs lives in the body (see ``payload(now=...)``)."""
    headers = {"Linear-Event": event, "Linear-Delivery": delivery}
    return verifiers.sign("linear", secrets=[secret], body=body, headers=headers)


def test_sdk_vector() -> None:
    headers = {"linear-signature": SDK_SIGNATURE}
    verifiers.verify("linear", secrets=[SDK_SECRET], headers=headers, body=SDK_BODY, now=SDK_NOW)
    # The SDK test's own point: the same delivery is rejected once its timestamp is stale.
    with pytest.raises(TimestampOutOfRange):
        verifiers.verify("linear", secrets=[SDK_SECRET], headers=headers, body=SDK_BODY, now=SDK_NOW + 61)


def test_rotated_secret_accepted() -> None:
    body = payload()
    verifiers.verify("linear", secrets=["new", "old"], headers=sign(body, secret="old"), body=body, now=NOW)


BODY = payload()


@pytest.mark.parametrize(
    ("headers", "body", "kwargs", "error"),
    [
        (sign(BODY), BODY + b" ", {}, SignatureMismatch),
        (sign(BODY), BODY, {"secrets": ["wrong"]}, SignatureMismatch),
        (sign(BODY), BODY, {"now": NOW + 61}, TimestampOutOfRange),
        (sign(BODY), BODY, {"now": NOW - 61}, TimestampOutOfRange),
        (sign(payload(webhookTimestamp=None)), payload(webhookTimestamp=None), {}, MalformedBody),
        (sign(payload(webhookTimestamp="1")), payload(webhookTimestamp="1"), {}, MalformedBody),
        (sign(payload(webhookTimestamp=10**400)), payload(webhookTimestamp=10**400), {}, MalformedBody),
        (sign(b"NaN"), b"NaN", {}, MalformedBody),
        (sign(b"[]"), b"[]", {}, MalformedBody),
        ({"Linear-Event": "Issue"}, BODY, {}, MissingHeader),
        ({"Linear-Signature": "not-hex"}, BODY, {}, SignatureMismatch),
        (sign(BODY), BODY, {"secrets": []}, MissingSecret),
    ],
)
def test_rejects(headers: dict[str, str], body: bytes, kwargs: dict[str, Any], error: type[VerificationError]) -> None:
    args: dict[str, Any] = {"secrets": [SECRET], "now": NOW, **kwargs}
    with pytest.raises(error) as info:
        verifiers.verify("linear", headers=headers, body=body, **args)
    assert info.value.reason == error.reason


def test_no_handshake() -> None:
    assert verifiers.handshake("linear", secrets=[SECRET], headers=sign(BODY), body=BODY, now=NOW) is None


def test_extract() -> None:
    assert verifiers.extract("linear", headers=sign(BODY), body=BODY) == [
        verifiers.EventInfo("org-42", "Issue.update", DELIVERY)
    ]


@pytest.mark.parametrize(
    ("previous", "event_type"),
    [
        ({"stateId": "s1", "updatedAt": "x"}, "Issue.update.state"),
        ({"labelIds": []}, "Issue.update.labels"),
        ({"stateId": "s1", "labelIds": ["l1"]}, "Issue.update.labels.state"),
        ({"title": "Old"}, "Issue.update"),
    ],
)
def test_extract_names_what_an_update_changed(previous: dict[str, Any], event_type: str) -> None:
    body = payload(updatedFrom=previous)
    assert verifiers.extract("linear", headers=sign(body), body=body)[0].event_type == event_type


def test_extract_falls_back_to_the_event_header() -> None:
    headers = {"linear-event": "Issue", "linear-delivery": DELIVERY}  # extract reads a verified request
    assert verifiers.extract("linear", headers=headers, body=b"{}") == [verifiers.EventInfo("", "Issue", DELIVERY)]


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), sig=st.text(max_size=80), stamp=st.integers() | st.floats() | st.text())
def test_only_verification_errors(body: bytes, sig: str, stamp: object) -> None:
    for candidate, headers in ((body, {"linear-signature": sig}), (payload(webhookTimestamp=stamp), {})):
        headers = headers or sign(candidate)
        for call in (verifiers.verify, verifiers.handshake):
            with contextlib.suppress(VerificationError):
                call("linear", secrets=[SECRET], headers=headers, body=candidate, now=NOW)
        assert verifiers.extract("linear", headers=headers, body=candidate)
