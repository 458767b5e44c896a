from __future__ import annotations

import contextlib
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
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

# Discord publishes no signed example (discord-interactions-js generates fresh keys per test run), so the
# vector is derived from RFC 8032 section 7.1 TEST 1: its secret key signs timestamp + a PING body.
RFC8032_TEST1_SECRET = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
RFC8032_TEST1_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
# RFC 8032 TEST 1's own signature (over the empty message) pins the key pair used to derive the vector.
RFC8032_TEST1_SIGNATURE = (
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
PING_TS = "1700000000"
PING_BODY = (
    b'{"app_permissions":"562949953601536","application_id":"1139312744389525544","entitlements":[],'
    b'"id":"1176161226366795846","token":"aW50ZXJhY3Rpb246MTE3NjE2MTIyNjM2Njc5NTg0Ng","type":1,'
    b'"user":{"id":"80351110224678912","username":"nelly"},"version":1}'
)
PING_SIGNATURE = (
    "2627738f938f60a1acea3e77582622d79f9dca4f17e26f2d271f209fa6edd015"
    "83d4f07ecbcceb8cfb6d983f98c8a077fafa70044f92139bbc191e0f4fc92902"
)
NOW = 1_700_000_000
_KEY = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(RFC8032_TEST1_SECRET))
PUBLIC = RFC8032_TEST1_PUBLIC


def sign(body: bytes, *, secret: Ed25519PrivateKey = _KEY, now: int = NOW) -> dict[str, str]:
    """Headers Discord sends for ``body`` at ``now``, signed with ``secret`` (default: RFC 8032 TEST 1 key)."""
    seed = secret.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return verifiers.sign("discord", secrets=[seed.hex()], body=body, now=now)


def _verify(headers: dict[str, str], body: bytes, *, secrets: list[str] | None = None, now: float = NOW) -> None:
    verifiers.verify("discord", secrets=[PUBLIC] if secrets is None else secrets, headers=headers, body=body, now=now)


def test_rfc8032_key_pair() -> None:
    public = _KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert public.hex() == RFC8032_TEST1_PUBLIC
    assert _KEY.sign(b"").hex() == RFC8032_TEST1_SIGNATURE


def test_derived_ping_vector_verifies() -> None:
    headers = {"X-Signature-Ed25519": PING_SIGNATURE, "X-Signature-Timestamp": PING_TS}
    _verify(headers, PING_BODY)
    assert sign(PING_BODY)["x-signature-ed25519"] == PING_SIGNATURE


def test_pem_public_key_accepted() -> None:
    pem = _KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    _verify(sign(PING_BODY), PING_BODY, secrets=[pem.decode()])


OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_PUBLIC = OTHER.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
BODY = b'{"type":2,"id":"1","application_id":"11","guild_id":"G1","data":{"name":"hello"}}'


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != name}


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "now", "error"),
    [
        pytest.param(sign(BODY), BODY + b" ", [PUBLIC], NOW, SignatureMismatch, id="tampered-body"),
        pytest.param(sign(BODY), BODY, [OTHER_PUBLIC], NOW, SignatureMismatch, id="wrong-key"),
        pytest.param(sign(BODY, now=NOW - 301), BODY, [PUBLIC], NOW, TimestampOutOfRange, id="stale"),
        pytest.param(sign(BODY, now=NOW + 301), BODY, [PUBLIC], NOW, TimestampOutOfRange, id="future"),
        pytest.param(_without(sign(BODY), "x-signature-ed25519"), BODY, [PUBLIC], NOW, MissingHeader, id="no-sig"),
        pytest.param(_without(sign(BODY), "x-signature-timestamp"), BODY, [PUBLIC], NOW, MissingHeader, id="no-ts"),
        pytest.param({**sign(BODY), "x-signature-ed25519": "zz"}, BODY, [PUBLIC], NOW, MalformedHeader, id="not-hex"),
        pytest.param(
            {**sign(BODY), "x-signature-ed25519": "ab" * 10}, BODY, [PUBLIC], NOW, MalformedHeader, id="short-sig"
        ),
        pytest.param(
            {**sign(BODY), "x-signature-timestamp": "soon"}, BODY, [PUBLIC], NOW, MalformedHeader, id="garbled-ts"
        ),
        pytest.param(sign(BODY), BODY, [], NOW, MissingSecret, id="no-secret"),
        pytest.param(sign(BODY), BODY, ["not-a-key"], NOW, MissingSecret, id="secret-not-a-key"),
    ],
)
def test_rejects(
    headers: dict[str, str], body: bytes, secrets: list[str], now: float, error: type[VerificationError]
) -> None:
    with pytest.raises(error) as info:
        _verify(headers, body, secrets=secrets, now=now)
    assert info.value.reason == error.reason


def test_rotated_key_accepted() -> None:
    _verify(sign(BODY, secret=OTHER), BODY, secrets=[PUBLIC, OTHER_PUBLIC])


# --- handshake -------------------------------------------------------------------------------


def test_ping_is_answered_with_pong() -> None:
    headers = {"x-signature-ed25519": PING_SIGNATURE, "x-signature-timestamp": PING_TS}
    reply = verifiers.handshake("discord", secrets=[PUBLIC], headers=headers, body=PING_BODY, now=NOW)
    assert reply is not None
    assert (reply.status, json.loads(reply.body)) == (200, {"type": 1})
    assert reply.headers["content-type"] == "application/json"


def test_forged_ping_is_refused() -> None:
    # Discord probes endpoints with deliberately bad signatures and expects a 401, never a PONG.
    with pytest.raises(SignatureMismatch):
        verifiers.handshake("discord", secrets=[PUBLIC], headers=sign(PING_BODY, secret=OTHER), body=PING_BODY, now=NOW)


def test_unsigned_ping_is_refused() -> None:
    with pytest.raises(MissingHeader):
        verifiers.handshake("discord", secrets=[PUBLIC], headers={}, body=PING_BODY, now=NOW)


def test_webhook_event_ping_is_answered_with_204() -> None:
    body = b'{"version":1,"application_id":"1139312744389525544","type":0}'
    reply = verifiers.handshake("discord", secrets=[PUBLIC], headers=sign(body), body=body, now=NOW)
    assert reply is not None
    assert (reply.status, reply.body) == (204, b"")


@pytest.mark.parametrize(
    "body",
    [BODY, b"", b"[]", b'{"type":true}', b'{"version":1,"type":1,"event":{"type":"APPLICATION_AUTHORIZED"}}'],
)
def test_other_requests_are_not_handshakes(body: bytes) -> None:
    assert verifiers.handshake("discord", secrets=[PUBLIC], headers=sign(body), body=body, now=NOW) is None


# --- extract ---------------------------------------------------------------------------------


def _extract(body: bytes) -> verifiers.EventInfo:
    [info] = verifiers.extract("discord", headers=sign(body), body=body)
    return info


def test_extract_guild_command() -> None:
    assert _extract(BODY) == verifiers.EventInfo("G1", "APPLICATION_COMMAND", "1")


def test_extract_user_installed_command() -> None:
    body = b'{"type":2,"id":"9","application_id":"11","authorizing_integration_owners":{"1":"U5"}}'
    assert _extract(body) == verifiers.EventInfo("U5", "APPLICATION_COMMAND", "9")


def test_extract_ping() -> None:
    assert _extract(PING_BODY) == verifiers.EventInfo("1139312744389525544", "PING", "1176161226366795846")


def test_extract_webhook_event() -> None:
    body = json.dumps(
        {
            "version": 1,
            "application_id": "11",
            "type": 1,
            "event": {"type": "APPLICATION_AUTHORIZED", "data": {"integration_type": 0, "guild": {"id": "G7"}}},
        }
    ).encode()
    assert _extract(body) == verifiers.EventInfo("G7", "APPLICATION_AUTHORIZED", "")


@settings(max_examples=200, deadline=None)
@given(
    body=st.one_of(st.binary(max_size=256), st.sampled_from([PING_BODY, b'{"type":0}', b'{"type":1}'])),
    sig=st.text(max_size=140),
    ts=st.text(max_size=20),
)
def test_only_verification_errors_escape(body: bytes, sig: str, ts: str) -> None:
    headers = {"x-signature-ed25519": sig, "x-signature-timestamp": ts}
    with contextlib.suppress(VerificationError):
        _verify(headers, body)
    with contextlib.suppress(VerificationError):
        verifiers.handshake("discord", secrets=[PUBLIC], headers=headers, body=body, now=NOW)
    assert verifiers.extract("discord", headers=headers, body=body)
