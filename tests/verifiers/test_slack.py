from __future__ import annotations

import contextlib
import json
from urllib.parse import urlencode

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
    VerificationError,
)

# Slack's documented example ("Verifying requests from Slack",
# https://api.slack.com/authentication/verifying-requests-from-slack), also the fixture of
# slackapi/python-slack-sdk tests/slack_sdk/signature/test_signature_verifier.py.
DOCS_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOCS_TS = 1531420618
DOCS_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
DOCS_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"

SECRET = "slack-signing-secret"
NOW = 1_700_000_000


def sign(body: bytes, *, secret: str = SECRET, now: int = NOW) -> dict[str, str]:
    """Headers Slack would send for ``body`` signed at ``now`` with ``secret``."""
    return verifiers.sign("slack", secrets=[secret], body=body, now=now)


def _verify(headers: dict[str, str], body: bytes, *, secrets: list[str] | None = None, now: float = NOW) -> None:
    verifiers.verify("slack", secrets=[SECRET] if secrets is None else secrets, headers=headers, body=body, now=now)


def test_docs_example_verifies() -> None:
    headers = {"X-Slack-Request-Timestamp": str(DOCS_TS), "X-Slack-Signature": DOCS_SIGNATURE}
    verifiers.verify("slack", secrets=[DOCS_SECRET], headers=headers, body=DOCS_BODY, now=DOCS_TS)


def test_sign_reproduces_docs_example() -> None:
    assert sign(DOCS_BODY, secret=DOCS_SECRET, now=DOCS_TS)["x-slack-signature"] == DOCS_SIGNATURE


BODY = b'{"type":"event_callback","team_id":"T1","event":{"type":"app_mention"},"event_id":"Ev1"}'


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != name}


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "now", "error"),
    [
        pytest.param(sign(BODY), BODY + b" ", [SECRET], NOW, SignatureMismatch, id="tampered-body"),
        pytest.param(sign(BODY), BODY, ["other-secret"], NOW, SignatureMismatch, id="wrong-secret"),
        pytest.param(sign(BODY, now=NOW - 301), BODY, [SECRET], NOW, TimestampOutOfRange, id="stale"),
        pytest.param(sign(BODY, now=NOW + 301), BODY, [SECRET], NOW, TimestampOutOfRange, id="future"),
        pytest.param(
            _without(sign(BODY), "x-slack-signature"), BODY, [SECRET], NOW, MissingHeader, id="missing-signature"
        ),
        pytest.param(
            _without(sign(BODY), "x-slack-request-timestamp"), BODY, [SECRET], NOW, MissingHeader, id="missing-ts"
        ),
        pytest.param(
            {**sign(BODY), "x-slack-request-timestamp": "12:00"}, BODY, [SECRET], NOW, MalformedHeader, id="garbled-ts"
        ),
        pytest.param(
            {**sign(BODY), "x-slack-signature": "v0=zz"}, BODY, [SECRET], NOW, SignatureMismatch, id="garbled-sig"
        ),
        pytest.param(
            {**sign(BODY), "x-slack-signature": sign(BODY)["x-slack-signature"].upper()},
            BODY,
            [SECRET],
            NOW,
            SignatureMismatch,
            id="uppercase-hex",
        ),
        pytest.param(sign(BODY), BODY, [], NOW, MissingSecret, id="no-secret"),
        pytest.param(sign(BODY), BODY, [""], NOW, MissingSecret, id="empty-secret"),
    ],
)
def test_rejects(
    headers: dict[str, str], body: bytes, secrets: list[str], now: float, error: type[VerificationError]
) -> None:
    with pytest.raises(error) as info:
        _verify(headers, body, secrets=secrets, now=now)
    assert info.value.reason == error.reason


def test_window_edges_accepted() -> None:
    _verify(sign(BODY, now=NOW - 300), BODY)
    _verify(sign(BODY, now=NOW + 300), BODY)


def test_rotated_secret_accepted() -> None:
    _verify(sign(BODY, secret="old"), BODY, secrets=["new", "old"])


# --- handshake -------------------------------------------------------------------------------

CHALLENGE_BODY = b'{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}'  # noqa: E501


def test_url_verification_echoes_challenge() -> None:
    reply = verifiers.handshake("slack", secrets=[SECRET], headers=sign(CHALLENGE_BODY), body=CHALLENGE_BODY, now=NOW)
    assert reply is not None
    assert reply.status == 200
    assert json.loads(reply.body) == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    assert reply.headers["content-type"] == "application/json"


def test_forged_url_verification_is_refused() -> None:
    headers = sign(CHALLENGE_BODY, secret="attacker")
    with pytest.raises(SignatureMismatch):
        verifiers.handshake("slack", secrets=[SECRET], headers=headers, body=CHALLENGE_BODY, now=NOW)


def test_unsigned_url_verification_is_refused() -> None:
    with pytest.raises(MissingHeader):
        verifiers.handshake("slack", secrets=[SECRET], headers={}, body=CHALLENGE_BODY, now=NOW)


@pytest.mark.parametrize("body", [BODY, DOCS_BODY, b"", b"[]", b'{"type":"event_callback"}'])
def test_other_requests_are_not_handshakes(body: bytes) -> None:
    assert verifiers.handshake("slack", secrets=[SECRET], headers=sign(body), body=body, now=NOW) is None


# --- extract ---------------------------------------------------------------------------------


def _extract(body: bytes) -> verifiers.EventInfo:
    [info] = verifiers.extract("slack", headers=sign(body), body=body)
    return info


def test_extract_events_api() -> None:
    body = json.dumps(
        {
            "team_id": "T123ABC456",
            "api_app_id": "A123ABC456",
            "event": {"type": "message", "channel": "C1"},
            "type": "event_callback",
            "event_id": "Ev123ABC456",
            "authorizations": [{"team_id": "T999", "user_id": "U1", "is_bot": True}],
        }
    ).encode()
    assert _extract(body) == verifiers.EventInfo("T123ABC456", "message", "Ev123ABC456")


@pytest.mark.parametrize(
    ("event", "event_type"),
    [
        ({"type": "message", "channel_type": "channel"}, "message.channels"),
        ({"type": "message", "channel_type": "im"}, "message.im"),
        ({"type": "message", "channel_type": "group"}, "message.groups"),
        ({"type": "message", "channel_type": "mpim", "subtype": "file_share"}, "message.mpim.file_share"),
        (
            {"type": "message", "channel_type": "channel", "subtype": "message_changed"},
            "message.channels.message_changed",
        ),
        ({"type": "message", "channel_type": "elsewhere"}, "message"),
        ({"type": "app_mention", "channel_type": "channel"}, "app_mention"),
    ],
)
def test_extract_names_the_message_subscription(event: dict[str, str], event_type: str) -> None:
    # Slack's subscriptions (message.channels, message.im, ...) deliver one event type, "message";
    # channel_type and subtype say which, so triggers can tell a channel message from a DM or an edit.
    body = json.dumps({"type": "event_callback", "team_id": "T1", "event_id": "Ev1", "event": event}).encode()
    assert _extract(body) == verifiers.EventInfo("T1", event_type, "Ev1")


def test_extract_falls_back_to_authorizations() -> None:
    body = json.dumps(
        {
            "type": "event_callback",
            "event": {"type": "reaction_added"},
            "event_id": "Ev2",
            "authorizations": [{"team_id": "T777", "enterprise_id": "E1"}],
        }
    ).encode()
    assert _extract(body).provider_id == "T777"


def test_extract_enterprise_only_install() -> None:
    # Org-wide installs: no team_id, authorizations carry only the enterprise.
    body = json.dumps(
        {
            "enterprise_id": "E0123",
            "type": "event_callback",
            "event": {"type": "team_join"},
            "event_id": "Ev3",
            "authorizations": [{"enterprise_id": "E0123", "team_id": None, "is_enterprise_install": True}],
        }
    ).encode()
    assert _extract(body) == verifiers.EventInfo("E0123", "team_join", "Ev3")


def test_extract_url_verification() -> None:
    assert _extract(CHALLENGE_BODY).event_type == "url_verification"


def test_extract_slash_command_form() -> None:
    assert _extract(DOCS_BODY) == verifiers.EventInfo(
        "T1DC2JH3J", "slash_command", "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )


def test_extract_slash_command_enterprise() -> None:
    body = urlencode({"enterprise_id": "E9", "command": "/x", "trigger_id": "1.2.3"}).encode()
    assert _extract(body) == verifiers.EventInfo("E9", "slash_command", "1.2.3")


def test_extract_interactivity_payload() -> None:
    payload = {
        "type": "block_actions",
        "team": {"id": "T9TK3CUKW", "domain": "example"},
        "user": {"id": "UA8RXUSPL", "team_id": "T9TK3CUKW"},
        "api_app_id": "AABA1ABCD",
        "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    assert _extract(body) == verifiers.EventInfo(
        "T9TK3CUKW", "block_actions", "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3"
    )


def test_extract_interactivity_enterprise_install() -> None:
    payload = {"type": "view_submission", "team": None, "enterprise": {"id": "E42"}, "user": {"id": "U1"}}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    assert _extract(body).provider_id == "E42"


@pytest.mark.parametrize("body", [b"", b"\xff\xfe", b"[1,2]", b"payload=%7Bnot-json", b'{"team_id": {"x": 1}}'])
def test_extract_never_raises_on_odd_bodies(body: bytes) -> None:
    [info] = verifiers.extract("slack", headers={}, body=body)
    assert isinstance(info.provider_id, str)


# --- contract --------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), ts=st.text(max_size=40), sig=st.text(max_size=80), secret=st.text(max_size=20))
def test_raises_only_verification_errors(body: bytes, ts: str, sig: str, secret: str) -> None:
    headers = {"x-slack-request-timestamp": ts, "x-slack-signature": sig}
    with contextlib.suppress(VerificationError):
        verifiers.verify("slack", secrets=[secret], headers=headers, body=body, now=NOW)
    with contextlib.suppress(VerificationError):
        verifiers.handshake("slack", secrets=[secret], headers=headers, body=body, now=NOW)
    assert verifiers.extract("slack", headers=headers, body=body)
