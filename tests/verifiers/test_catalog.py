"""The catalog providers, each against its documented example delivery (``catalog_samples.py``).

For every provider: a signed sample verifies and extracts its tenant, event type and delivery id; a wrong
secret, a missing signature header and (for the stamped schemes) a stale or future timestamp fail with the
right reason. Handshakes are checked one by one below; published vectors are in ``test_catalog_vectors.py``.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

import verifiers
from tests.verifiers.catalog_samples import ALIASES, SAMPLES, Sample, other_secret
from verifiers import (
    MalformedBody,
    MissingHeader,
    MissingSecret,
    SignatureMismatch,
    Signed,
    TimestampOutOfRange,
    VerificationError,
)

NOW = 1_700_000_000
URL = "https://hooks.example.com/webhook/triggers/connect/{name}/int_1"
NAMES = sorted([*SAMPLES, *ALIASES])
# Schemes that sign a timestamp, checked both ways.
STAMPED = {"buildkite", "clerk", "customerio", "mux", "persona", "resend", "sanity", "twitch", "webflow", "workos"}
STAMPED |= {"contentful", "front", "mailgun", "plaid", "paypal", "klaviyo"}
# Schemes whose credential rides in the body or the URL rather than a header.
IN_BODY = {"figma", "mailgun", "adyen", "pandadoc", "miro"}


def sample(name: str) -> Sample:
    return SAMPLES[ALIASES.get(name, name)]


def signed(name: str, *, secrets: tuple[str, ...] | None = None, now: float = NOW) -> Signed:
    item = sample(name)
    return verifiers.sign_request(
        name,
        secrets=secrets or item.secrets,
        body=item.body,
        url=URL.format(name=name),
        now=now,
        headers=item.headers,
    )


def verify(name: str, request: Signed, *, secrets: tuple[str, ...] | None = None) -> None:
    verifiers.verify(
        name,
        secrets=secrets or sample(name).checks,
        headers=request.headers,
        body=request.body,
        url=request.url,
        now=NOW,
    )


def test_every_catalog_provider_is_registered_and_signable() -> None:
    assert set(NAMES) <= set(verifiers.signable())


@pytest.mark.parametrize("name", NAMES)
def test_signed_sample_verifies_and_extracts(name: str) -> None:
    request = signed(name)
    verify(name, request)
    events = verifiers.extract(name, headers=request.headers, body=request.body, url=request.url)
    assert tuple((e.provider_id, e.event_type, e.delivery_id) for e in events) == sample(name).expected


@pytest.mark.parametrize("name", NAMES)
def test_wrong_secret_is_signature_mismatch(name: str) -> None:
    wrong = tuple(other_secret(s) for s in sample(name).secrets)
    with pytest.raises(SignatureMismatch):
        verify(name, signed(name, secrets=wrong))


@pytest.mark.parametrize("name", NAMES)
def test_no_secret_is_missing_secret(name: str) -> None:
    with pytest.raises(MissingSecret):
        verify(name, signed(name), secrets=("",))


@pytest.mark.parametrize("name", sorted(set(NAMES) - IN_BODY))
def test_each_missing_signature_header_is_missing_header(name: str) -> None:
    request = signed(name)
    added = [h for h in request.headers if h not in sample(name).headers and h != "content-type"]
    assert added
    for header in added:
        if header == "twitch-eventsub-message-type":
            continue  # names the kind of message; a notification without it still verifies
        without = {k: v for k, v in request.headers.items() if k != header}
        with pytest.raises(MissingHeader):
            verify(name, Signed(without, request.body, request.url))


def test_figma_without_passcode_is_malformed_body() -> None:
    body = json.dumps({"event_type": "PING", "webhook_id": "1"}).encode()
    with pytest.raises(MalformedBody):
        verifiers.verify("figma", secrets=["s"], headers={}, body=body)


@pytest.mark.parametrize("name", sorted(STAMPED))
@pytest.mark.parametrize("skew_s", [-3600, 3600], ids=["stale", "future"])
def test_timestamp_outside_the_window(name: str, skew_s: int) -> None:
    with pytest.raises(TimestampOutOfRange):
        verify(name, signed(name, now=NOW + skew_s))


# --- handshakes -------------------------------------------------------------------------------------------


def meta_url(**query: str) -> str:
    return URL.format(name="meta") + "?" + urlencode(query)


def test_meta_verification_request_echoes_the_challenge() -> None:
    url = meta_url(**{"hub.mode": "subscribe", "hub.verify_token": "meta-verify-token", "hub.challenge": "1158201444"})
    reply = verifiers.handshake("meta", secrets=SAMPLES["meta"].secrets, headers={}, body=b"", method="GET", url=url)
    assert reply is not None
    assert (reply.status, reply.body, reply.headers["content-type"]) == (
        200,
        b"1158201444",
        "text/plain; charset=utf-8",
    )


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"}, SignatureMismatch),
        ({"hub.mode": "subscribe", "hub.challenge": "1"}, MissingHeader),
    ],
    ids=["wrong-token", "no-token"],
)
def test_meta_verification_request_with_a_bad_token_is_refused(
    query: dict[str, str], error: type[VerificationError]
) -> None:
    with pytest.raises(error):
        verifiers.handshake(
            "meta", secrets=SAMPLES["meta"].secrets, headers={}, body=b"", method="GET", url=meta_url(**query)
        )


def test_meta_without_a_verify_token_secret_refuses_the_handshake() -> None:
    url = meta_url(**{"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "1"})
    with pytest.raises(MissingSecret):
        verifiers.handshake("meta", secrets=["app-secret"], headers={}, body=b"", method="GET", url=url)


def test_meta_verify_token_is_not_an_app_secret() -> None:
    # A body signed with the verify token (which travels in URLs) must not pass.
    request = verifiers.sign_request("meta", secrets=["meta-verify-token"], body=b"{}", now=NOW)
    with pytest.raises(SignatureMismatch):
        verifiers.verify("meta", secrets=SAMPLES["meta"].secrets, headers=request.headers, body=b"{}", now=NOW)


def test_smartsheet_challenge_is_echoed_in_body_and_header() -> None:
    body = json.dumps({"challenge": "d78dd1d3-01ce-4481-81de-92b4f3aa5ab1", "webhookId": 2674017481058180}).encode()
    headers = {"smartsheet-hook-challenge": "d78dd1d3-01ce-4481-81de-92b4f3aa5ab1"}
    reply = verifiers.handshake("smartsheet", secrets=["s"], headers=headers, body=body)
    assert reply is not None
    assert json.loads(reply.body) == {"smartsheetHookResponse": "d78dd1d3-01ce-4481-81de-92b4f3aa5ab1"}
    assert reply.headers["smartsheet-hook-response"] == "d78dd1d3-01ce-4481-81de-92b4f3aa5ab1"


def test_smartsheet_signed_challenge_with_a_bad_signature_is_refused() -> None:
    headers = {"smartsheet-hook-challenge": "abc", "smartsheet-hmac-sha256": "00" * 32}
    with pytest.raises(SignatureMismatch):
        verifiers.handshake("smartsheet", secrets=["s"], headers=headers, body=b'{"challenge":"abc"}')


def test_smartsheet_callback_is_not_a_handshake() -> None:
    assert verifiers.handshake("smartsheet", secrets=["s"], headers={}, body=SAMPLES["smartsheet"].body) is None


def test_okta_verification_checks_the_authorization_header_first() -> None:
    headers = {"x-okta-verification-challenge": "2EZ4wY1CrDfF9T3dP9aByYC8c3YWzyyeh0V2u9Ye", "authorization": "okta-key"}
    reply = verifiers.handshake("okta", secrets=["okta-key"], headers=headers, body=b"", method="GET")
    assert reply is not None
    assert json.loads(reply.body) == {"verification": "2EZ4wY1CrDfF9T3dP9aByYC8c3YWzyyeh0V2u9Ye"}
    with pytest.raises(MissingHeader):
        verifiers.handshake(
            "okta", secrets=["okta-key"], headers={"x-okta-verification-challenge": "x"}, body=b"", method="GET"
        )
    with pytest.raises(SignatureMismatch):
        verifiers.handshake(
            "okta", secrets=["okta-key"], headers={**headers, "authorization": "guess"}, body=b"", method="GET"
        )


def twitch_challenge(secret: str) -> Signed:
    body = json.dumps({"challenge": "pogchamp-kappa-360noscope-vohiyo", "subscription": {"type": "channel.follow"}})
    headers = {"twitch-eventsub-message-type": "webhook_callback_verification"}
    return verifiers.sign_request("twitch", secrets=[secret], body=body.encode(), now=NOW, headers=headers)


def test_twitch_callback_verification_is_verified_then_echoed() -> None:
    request = twitch_challenge("twitch-secret")
    reply = verifiers.handshake(
        "twitch", secrets=["twitch-secret"], headers=request.headers, body=request.body, now=NOW
    )
    assert reply is not None
    assert (reply.status, reply.body) == (200, b"pogchamp-kappa-360noscope-vohiyo")
    forged = twitch_challenge("not-the-secret")
    with pytest.raises(SignatureMismatch):
        verifiers.handshake("twitch", secrets=["twitch-secret"], headers=forged.headers, body=forged.body, now=NOW)


def test_twitch_revocation_is_its_own_event_type() -> None:
    headers = {"twitch-eventsub-message-type": "revocation"}
    events = verifiers.extract("twitch", headers=headers, body=SAMPLES["twitch"].body)
    assert events[0].event_type == "revocation.channel.follow"


def test_twitch_nanosecond_timestamps_parse() -> None:
    body = b"{}"
    headers = {"twitch-eventsub-message-timestamp": "2023-11-14T22:13:20.123456789Z", "twitch-eventsub-message-id": "m"}
    request = verifiers.sign_request("twitch", secrets=["s"], body=body, now=NOW, headers=headers)
    verifiers.verify("twitch", secrets=["s"], headers=request.headers, body=body, now=NOW)


MIRO_URL = URL.format(name="miro")
MIRO_CHALLENGE = b'{"challenge":"c273e4a3-01cf-4505-9bc4-27a37dd83c1d"}'


def test_miro_challenge_is_echoed_as_json_for_the_url_with_the_secret() -> None:
    url = MIRO_URL + "?secret=miro-url-secret"
    reply = verifiers.handshake("miro", secrets=["miro-url-secret"], headers={}, body=MIRO_CHALLENGE, url=url)
    assert reply is not None
    assert (reply.status, reply.headers["content-type"]) == (200, "application/json")
    assert json.loads(reply.body) == {"challenge": "c273e4a3-01cf-4505-9bc4-27a37dd83c1d"}


@pytest.mark.parametrize(
    ("query", "error"), [("?secret=guess", SignatureMismatch), ("", MissingHeader)], ids=["wrong-secret", "no-secret"]
)
def test_miro_challenge_for_a_guessed_url_is_refused(query: str, error: type[VerificationError]) -> None:
    with pytest.raises(error):
        verifiers.handshake("miro", secrets=["miro-url-secret"], headers={}, body=MIRO_CHALLENGE, url=MIRO_URL + query)


def test_miro_event_is_not_a_handshake() -> None:
    assert verifiers.handshake("miro", secrets=["s"], headers={}, body=SAMPLES["miro"].body, url=MIRO_URL) is None
