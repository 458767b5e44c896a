from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import MalformedHeader, MissingHeader, MissingSecret, SignatureMismatch, VerificationError

# Asana's docs show the handshake secret below only to illustrate the echo; no signed event with a secret is
# published, so event signatures here come from the sign helper (hex HMAC-SHA256 of the raw body).
DOC_HOOK_SECRET = "b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81"
SECRET = DOC_HOOK_SECRET
EVENTS = [
    {
        "user": {"gid": "1201", "resource_type": "user"},
        "created_at": "2024-01-01T00:00:00.000Z",
        "action": "changed",
        "resource": {"gid": "1301", "resource_type": "task", "resource_subtype": "default_task"},
        "parent": None,
        "change": {"field": "due_on", "action": "changed"},
    },
    {
        "user": {"gid": "1201", "resource_type": "user"},
        "created_at": "2024-01-01T00:00:01.000Z",
        "action": "added",
        "resource": {"gid": "1401", "resource_type": "story", "resource_subtype": "comment_added"},
        "parent": {"gid": "1301", "resource_type": "task"},
    },
]
BODY = json.dumps({"events": EVENTS}).encode()


def sign(body: bytes, *, secret: str = SECRET) -> dict[str, str]:
    return verifiers.sign("asana", secrets=[secret], body=body)


def test_handshake_echoes_and_persists_the_hook_secret() -> None:
    reply = verifiers.handshake("asana", secrets=[], headers={"X-Hook-Secret": DOC_HOOK_SECRET}, body=b"")
    assert reply is not None
    assert (reply.status, dict(reply.headers), reply.body) == (200, {"x-hook-secret": DOC_HOOK_SECRET}, b"")
    assert reply.persist == {"secret": DOC_HOOK_SECRET}


@pytest.mark.parametrize("value", ["", "a\r\nSet-Cookie: x=1", "s\u00e9cret", "x" * 513])
def test_handshake_rejects_unusable_secrets(value: str) -> None:
    with pytest.raises(MalformedHeader):
        verifiers.handshake("asana", secrets=[], headers={"x-hook-secret": value}, body=b"")


def test_events_are_not_handshakes() -> None:
    assert verifiers.handshake("asana", secrets=[SECRET], headers=sign(BODY), body=BODY) is None


def test_verify_signed_events_and_heartbeat() -> None:
    verifiers.verify("asana", secrets=[SECRET], headers=sign(BODY), body=BODY)
    heartbeat = b'{"events":[]}'
    verifiers.verify("asana", secrets=[SECRET], headers=sign(heartbeat), body=heartbeat)


def test_rotated_secret_accepted() -> None:
    # Secrets are per webhook: an integration with two webhooks holds both, and either may sign.
    verifiers.verify("asana", secrets=["other-webhook", SECRET], headers=sign(BODY), body=BODY)


@pytest.mark.parametrize(
    ("headers", "body", "kwargs", "error"),
    [
        (sign(BODY), BODY + b" ", {}, SignatureMismatch),
        (sign(BODY), BODY, {"secrets": ["wrong"]}, SignatureMismatch),
        ({"X-Hook-Signature": "zz"}, BODY, {}, SignatureMismatch),
        ({"X-Hook-Secret": SECRET}, BODY, {}, MissingHeader),
        (sign(BODY), BODY, {"secrets": []}, MissingSecret),
    ],
)
def test_rejects(headers: dict[str, str], body: bytes, kwargs: dict[str, Any], error: type[VerificationError]) -> None:
    args: dict[str, Any] = {"secrets": [SECRET], **kwargs}
    with pytest.raises(error) as info:
        verifiers.verify("asana", headers=headers, body=body, **args)
    assert info.value.reason == error.reason


def test_extract_splits_events() -> None:
    infos = verifiers.extract("asana", headers=sign(BODY), body=BODY)
    assert [(i.provider_id, i.event_type, i.delivery_id) for i in infos] == [
        ("", "task.changed.due_on", ""),
        ("", "story.added.comment_added", ""),
    ]
    assert [i.body for i in infos] == [json.dumps(e, separators=(",", ":")).encode() for e in EVENTS]


def test_extract_names_a_completion() -> None:
    event = {"action": "changed", "resource": {"resource_type": "task"}, "change": {"field": "completed"}}
    body = json.dumps({"events": [event]}).encode()
    assert verifiers.extract("asana", headers=sign(body), body=body)[0].event_type == "task.changed.completed"


@pytest.mark.parametrize("body", [b'{"events":[]}', b"", b"[1]", b'{"events":{}}'])
def test_extract_heartbeat_or_garbage_is_one_empty_event(body: bytes) -> None:
    assert verifiers.extract("asana", headers={}, body=body) == [verifiers.EventInfo()]


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), sig=st.text(max_size=80), hook_secret=st.none() | st.text(max_size=80))
def test_only_verification_errors(body: bytes, sig: str, hook_secret: str | None) -> None:
    headers = {"x-hook-signature": sig}
    if hook_secret is not None:
        headers["x-hook-secret"] = hook_secret
    for call in (verifiers.verify, verifiers.handshake):
        with contextlib.suppress(VerificationError):
            call("asana", secrets=[SECRET], headers=headers, body=body)
    assert verifiers.extract("asana", headers=headers, body=body)
