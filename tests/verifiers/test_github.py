from __future__ import annotations

import contextlib
import hmac
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import MissingHeader, MissingSecret, SignatureMismatch, VerificationError

SECRET = "github-webhook-secret"
DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def sign(body: bytes, *, secret: str = SECRET, event: str = "push", delivery: str = DELIVERY) -> dict[str, str]:
    """Headers GitHub would send for ``body``."""
    headers = {"x-github-event": event, "x-github-delivery": delivery}
    return verifiers.sign("github", secrets=[secret], body=body, headers=headers)


def _verify(headers: dict[str, str], body: bytes, secrets: list[str] | None = None) -> None:
    verifiers.verify("github", secrets=[SECRET] if secrets is None else secrets, headers=headers, body=body)


# Each vector is (secret, body, X-Hub-Signature-256) as published.
VECTORS = [
    # https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
    # ("Testing the webhook payload validation").
    pytest.param(
        "It's a Secret to Everybody",
        b"Hello, World!",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        id="github-docs",
    ),
    # octokit/webhooks-methods.js test/sign.test.ts: sign("mysecret", JSON.stringify({foo: "bar"})).
    pytest.param(
        "mysecret",
        b'{"foo":"bar"}',
        "sha256=4864d2759938a15468b5df9ade20bf161da9b4f737ea61794142f3484236bda3",
        id="octokit-sign",
    ),
    # octokit/webhooks-methods.js test/verify.test.ts: the payload as GitHub sends it (2-space
    # indentation and a trailing newline).
    pytest.param(
        "mysecret",
        b'{\n  "foo": "bar"\n}\n',
        "sha256=e3eccac34c43c7dc1cbb905488b1b81347fcc700a7b025697a9d07862256023f",
        id="octokit-verify",
    ),
    # octokit/webhooks-methods.js test/verify.test.ts, "special characters (#71)": non-ASCII and
    # \u escapes must be hashed exactly as sent.
    pytest.param(
        "development",
        '{\n  "foo": "Foo\\n\\u001B[34mbar: ♥♥♥♥♥♥♥♥\\nthis-is-lost\\u001B[0m\\u001B[2K"\n}\n'.encode(),
        "sha256=9dacf9003316b09be07df56d86a2d0d6872e42a1e6c72c3bad9ff915a7c5603e",
        id="octokit-special-characters",
    ),
]


@pytest.mark.parametrize(("secret", "body", "signature"), VECTORS)
def test_published_vectors(secret: str, body: bytes, signature: str) -> None:
    verifiers.verify("github", secrets=[secret], headers={"X-Hub-Signature-256": signature}, body=body)
    assert sign(body, secret=secret)["x-hub-signature-256"] == signature


BODY = b'{"action":"opened","installation":{"id":42}}'
# The legacy header's value: GitHub sends it beside the SHA-256 one; it must not pass in its place.
SHA1_VALUE = "sha1=" + hmac.new(SECRET.encode(), BODY, "sha1").hexdigest()


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != name}


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "error"),
    [
        pytest.param(sign(BODY), BODY + b"\n", [SECRET], SignatureMismatch, id="tampered-body"),
        pytest.param(sign(BODY), BODY, ["other"], SignatureMismatch, id="wrong-secret"),
        pytest.param(_without(sign(BODY), "x-hub-signature-256"), BODY, [SECRET], MissingHeader, id="sha1-only"),
        pytest.param({}, BODY, [SECRET], MissingHeader, id="no-headers"),
        pytest.param({"x-hub-signature-256": ""}, BODY, [SECRET], MissingHeader, id="empty-header"),
        pytest.param({"x-hub-signature-256": "sha256=zz"}, BODY, [SECRET], SignatureMismatch, id="garbled"),
        pytest.param(
            {"x-hub-signature-256": sign(BODY)["x-hub-signature-256"].removeprefix("sha256=")},
            BODY,
            [SECRET],
            SignatureMismatch,
            id="missing-prefix",
        ),
        pytest.param(
            {"x-hub-signature-256": SHA1_VALUE},
            BODY,
            [SECRET],
            SignatureMismatch,
            id="sha1-value",
        ),
        pytest.param(sign(BODY), BODY, [], MissingSecret, id="no-secret"),
    ],
)
def test_rejects(headers: dict[str, str], body: bytes, secrets: list[str], error: type[VerificationError]) -> None:
    with pytest.raises(error) as info:
        _verify(headers, body, secrets)
    assert info.value.reason == error.reason


def test_rotated_secret_accepted() -> None:
    _verify(sign(BODY, secret="old"), BODY, ["new", "old"])


# --- handshake -------------------------------------------------------------------------------

PING = b'{"zen":"Design for failure.","hook_id":109948940,"hook":{"type":"App","id":109948940}}'


def test_ping_is_acknowledged() -> None:
    reply = verifiers.handshake("github", secrets=[SECRET], headers=sign(PING, event="ping"), body=PING)
    assert reply is not None
    assert reply.status == 200


def test_forged_ping_is_refused() -> None:
    with pytest.raises(SignatureMismatch):
        verifiers.handshake("github", secrets=[SECRET], headers=sign(PING, secret="x", event="ping"), body=PING)


def test_events_are_not_handshakes() -> None:
    assert verifiers.handshake("github", secrets=[SECRET], headers=sign(BODY, event="issues"), body=BODY) is None


# --- extract ---------------------------------------------------------------------------------


def test_extract_app_event() -> None:
    body = json.dumps(
        {
            "action": "opened",
            "issue": {"id": 1},
            "repository": {"id": 7},
            "organization": {"id": 9},
            "installation": {"id": 2311213, "node_id": "MDIz"},
        }
    ).encode()
    [info] = verifiers.extract("github", headers=sign(body, event="issues"), body=body)
    assert info == verifiers.EventInfo("2311213", "issues.opened", DELIVERY)


def test_extract_event_without_action() -> None:
    body = b'{"ref":"refs/heads/main","repository":{"id":7}}'
    [info] = verifiers.extract("github", headers=sign(body, event="push"), body=body)
    assert info == verifiers.EventInfo("7", "push", DELIVERY)


def test_extract_installation_target_header() -> None:
    headers = {**sign(PING, event="ping"), "X-GitHub-Hook-Installation-Target-ID": "555"}
    [info] = verifiers.extract("github", headers=headers, body=PING)
    assert info.provider_id == "555"


def test_extract_organization_before_repository() -> None:
    body = b'{"action":"created","organization":{"id":9},"repository":{"id":7}}'
    [info] = verifiers.extract("github", headers=sign(body, event="star"), body=body)
    assert (info.provider_id, info.event_type) == ("9", "star.created")


@pytest.mark.parametrize("body", [b"", b"\x00\xff", b"[]", b'{"installation":{"id":null}}'])
def test_extract_never_raises_on_odd_bodies(body: bytes) -> None:
    [info] = verifiers.extract("github", headers={}, body=body)
    assert info.provider_id == ""


# --- contract --------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=256),
    sig=st.text(max_size=80),
    event=st.one_of(st.just("ping"), st.text(max_size=12)),
    secret=st.text(max_size=20),
)
def test_raises_only_verification_errors(body: bytes, sig: str, event: str, secret: str) -> None:
    headers = {"x-hub-signature-256": sig, "x-github-event": event}
    with contextlib.suppress(VerificationError):
        verifiers.verify("github", secrets=[secret], headers=headers, body=body)
    with contextlib.suppress(VerificationError):
        verifiers.handshake("github", secrets=[secret], headers=headers, body=body)
    assert verifiers.extract("github", headers=headers, body=body)
