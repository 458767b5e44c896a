from __future__ import annotations

import base64
import contextlib
import hmac
import json
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import (
    MalformedHeader,
    MissingHeader,
    MissingPublicUrl,
    MissingSecret,
    SignatureMismatch,
    TimestampOutOfRange,
    UnsupportedVersion,
    VerificationError,
)

# HubSpot's documented placeholder secret and URI, used by both its docs and its SDK tests.
DOC_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
DOC_URI = "https://www.example.com/webhook_uri"
SDK_BODY = b"{'example_field':'example_value'}"

SECRET = "0b5e1b3c-6d0a-4c2e-9f59-5a3a8f1d2c7e"
URL = "https://hooks.example.com/webhook/triggers/connect/hubspot/int_1?id=cred_1"
NOW = 1_700_000_000.0
BODY = (
    b'[{"eventId":100,"subscriptionId":12345,"portalId":62515,"appId":54321,"occurredAt":1700000000000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM"},'
    b'{"eventId":101,"subscriptionId":12346,"portalId":62516,"appId":54321,"occurredAt":1700000000001,'
    b'"subscriptionType":"deal.propertyChange","attemptNumber":0,"objectId":456,"propertyName":"amount"}]'
)

# Only these escapes are decoded in the v3 source string (HubSpot docs, "Validate the v3 request signature").
_DECODE = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'", "%28": "(",
           "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}  # fmt: skip


def sign(
    body: bytes,
    *,
    secret: str = SECRET,
    method: str = "POST",
    url: str = URL,
    now: float = NOW,
    version: str = "v3",
) -> dict[str, str]:
    """Headers HubSpot would send; v3 by default, or the legacy v1/v2 pair."""
    headers = verifiers.sign("hubspot", secrets=[secret], body=body, url=url, method=method, now=now, scheme=version)
    return {_CASED[name]: value for name, value in headers.items()}


# HubSpot's own spelling, which the cases below override by name.
_CASED = {
    name.lower(): name
    for name in (
        "X-HubSpot-Signature-v3",
        "X-HubSpot-Request-Timestamp",
        "X-HubSpot-Signature",
        "X-HubSpot-Signature-Version",
    )
}


V1_DOC_BODY = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM",'
    b'"changeFlag":"NEW","appId":54321}]'
)


@pytest.mark.parametrize(
    ("version", "method", "body", "signature"),
    [
        # https://developers.hubspot.com/docs/faq/v1-request-validation ("Example for a request with a body")
        ("v1", "POST", V1_DOC_BODY, "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"),
        # https://developers.hubspot.com/docs/faq/v2-request-validation (GET and POST examples)
        ("v2", "GET", b"", "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"),
        (
            "v2",
            "POST",
            b'{"example_field":"example_value"}',
            "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900",
        ),  # fmt: skip
        # HubSpot/hubspot-api-python tests/spec/utils/test_signature.py (test_get_signature__v1 / __v2)
        ("v1", "POST", SDK_BODY, "69fc6631a867edd4f9e9e627fc5c1148e3fbdd8b21837b6d2b8901c1fa57f750"),
        ("v2", "POST", SDK_BODY, "4fe4e3a7d3cf09db53be39d0a58130e2aaba074ec123a9e355b876a689a1c383"),
    ],
)
def test_published_v1_v2_vectors(version: str, method: str, body: bytes, signature: str) -> None:
    headers = {"X-HubSpot-Signature": signature, "X-HubSpot-Signature-Version": version}
    verifiers.verify("hubspot", secrets=[DOC_SECRET], headers=headers, body=body, method=method, url=DOC_URI)


def test_published_v3_vector() -> None:
    # HubSpot/hubspot-api-python tests/spec/utils/test_signature.py, test_get_signature__v3.
    headers = {
        "X-HubSpot-Signature-v3": "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y=",
        "X-HubSpot-Request-Timestamp": "1693657560000",
    }
    verifiers.verify("hubspot", secrets=[DOC_SECRET], headers=headers, body=SDK_BODY, url=DOC_URI, now=1693657560)
    with pytest.raises(TimestampOutOfRange):
        verifiers.verify("hubspot", secrets=[DOC_SECRET], headers=headers, body=SDK_BODY, url=DOC_URI, now=1693657861)


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_sign_helper_round_trip(version: str) -> None:
    verifiers.verify("hubspot", secrets=[SECRET], headers=sign(BODY, version=version), body=BODY, url=URL, now=NOW)


def test_v3_uri_decodes_only_the_documented_escapes() -> None:
    # No published vector covers the decode table: the sign helper applies it independently of the verifier.
    url = "https://hooks.example.com/cb?next=%2Fa%3Ab%40c%21%24%27%28%29%2A%2C%3B&space=%20&pct=%253A&low=%3a"
    verifiers.verify("hubspot", secrets=[SECRET], headers=sign(BODY, url=url), body=BODY, url=url, now=NOW)
    # A signer that URL-decoded everything (%20 -> " ", %25 -> "%") signed a different string.
    digest = hmac.new(SECRET.encode(), b"POST" + unquote(url).encode() + BODY + b"1700000000000", "sha256").digest()
    headers = {
        "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
        "X-HubSpot-Request-Timestamp": "1700000000000",
    }
    with pytest.raises(SignatureMismatch):
        verifiers.verify("hubspot", secrets=[SECRET], headers=headers, body=BODY, url=url, now=NOW)


def test_rotated_secret_accepted() -> None:
    headers = sign(BODY, secret="old")
    verifiers.verify("hubspot", secrets=["new", "old"], headers=headers, body=BODY, url=URL, now=NOW)


def test_failing_v3_is_not_downgraded_to_v1() -> None:
    headers = {**sign(BODY, version="v1"), **sign(BODY, secret="wrong")}
    with pytest.raises(SignatureMismatch):
        verifiers.verify("hubspot", secrets=[SECRET], headers=headers, body=BODY, url=URL, now=NOW)


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != name}


V3 = sign(BODY)
V2 = sign(BODY, version="v2")


@pytest.mark.parametrize(
    ("headers", "body", "kwargs", "error"),
    [
        (V3, BODY + b" ", {}, SignatureMismatch),
        (V3, BODY, {"secrets": ["wrong"]}, SignatureMismatch),
        (V3, BODY, {"url": URL + "&x=1"}, SignatureMismatch),
        (V3, BODY, {"url": ""}, MissingPublicUrl),
        (V2, BODY, {"url": "/webhook/hook"}, MissingPublicUrl),
        (V3, BODY, {"method": "PUT"}, SignatureMismatch),
        (V2, BODY, {"url": "https://internal:8080/hook"}, SignatureMismatch),
        (V2, BODY + b"x", {}, SignatureMismatch),
        (sign(BODY, version="v1"), BODY + b"x", {}, SignatureMismatch),
        (V3, BODY, {"now": NOW + 301}, TimestampOutOfRange),
        (V3, BODY, {"now": NOW - 301}, TimestampOutOfRange),
        ({**V3, "X-HubSpot-Request-Timestamp": "17e11"}, BODY, {}, MalformedHeader),
        (_without(V3, "X-HubSpot-Request-Timestamp"), BODY, {}, MissingHeader),
        ({}, BODY, {}, MissingHeader),
        (_without(V2, "X-HubSpot-Signature-Version"), BODY, {}, MissingHeader),
        ({**V2, "X-HubSpot-Signature-Version": "v9"}, BODY, {}, UnsupportedVersion),
        (V3, BODY, {"secrets": [""]}, MissingSecret),
    ],
)
def test_rejects(headers: dict[str, str], body: bytes, kwargs: dict[str, Any], error: type[VerificationError]) -> None:
    args: dict[str, Any] = {"secrets": [SECRET], "url": URL, "now": NOW, "method": "POST", **kwargs}
    with pytest.raises(error) as info:
        verifiers.verify("hubspot", headers=headers, body=body, **args)
    assert info.value.reason == error.reason


def test_no_handshake() -> None:
    assert verifiers.handshake("hubspot", secrets=[SECRET], headers=V3, body=BODY, url=URL, now=NOW) is None


def test_extract_splits_batch_one_event_each() -> None:
    infos = verifiers.extract("hubspot", headers=V3, body=BODY, url=URL)
    events = json.loads(BODY)
    assert [(i.provider_id, i.event_type, i.delivery_id) for i in infos] == [
        ("62515", "contact.creation", "100"),
        ("62516", "deal.propertyChange", "101"),
    ]
    assert [json.loads(i.body or b"") for i in infos] == events
    assert infos[0].body == json.dumps(events[0], separators=(",", ":")).encode()


def test_extract_single_object_workflow_request() -> None:
    body = b'{"callbackId":"ap-1-2-3","origin":{"portalId":62515,"actionDefinitionId":9},"fields":{}}'
    assert verifiers.extract("hubspot", headers={}, body=body) == [verifiers.EventInfo("62515", "", "ap-1-2-3")]


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b"7"])
def test_extract_unusable_body_is_empty(body: bytes) -> None:
    assert verifiers.extract("hubspot", headers={}, body=body) == [verifiers.EventInfo()]


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=256),
    sig=st.text(max_size=80),
    ts=st.text(max_size=20),
    version=st.sampled_from(["v1", "v2", "v3", "", "x"]),
    v3=st.booleans(),
    url=st.just(URL) | st.text(max_size=60),
)
def test_only_verification_errors(body: bytes, sig: str, ts: str, version: str, v3: bool, url: str) -> None:
    headers = {"x-hubspot-request-timestamp": ts, "x-hubspot-signature-version": version}
    headers["x-hubspot-signature-v3" if v3 else "x-hubspot-signature"] = sig
    for call in (verifiers.verify, verifiers.handshake):
        with contextlib.suppress(VerificationError):
            call("hubspot", secrets=[SECRET], headers=headers, body=body, url=url, now=NOW)
    assert verifiers.extract("hubspot", headers=headers, body=body)
