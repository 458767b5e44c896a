from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import (
    MalformedHeader,
    MissingHeader,
    MissingSecret,
    SignatureMismatch,
    TimestampOutOfRange,
    UnsupportedVersion,
    VerificationError,
)

# The vector of every library in standard-webhooks/standard-webhooks (libraries/python/tests/
# test_webhooks.py::test_sign_function and its siblings) and svix/svix-webhooks.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

SECRET = "whsec_" + base64.b64encode(b"standard-webhooks-test-key-32byt").decode()
MSG_ID = "msg_2Lh9oVvnEwB0D8nKqZ1cPq"
NOW = 1_700_000_000


def _v1(body: bytes, *, secret: str, msg_id: str, now: int) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{now}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign(
    body: bytes, *, secret: str = SECRET, msg_id: str = MSG_ID, now: int = NOW, prefix: str = "webhook-"
) -> dict[str, str]:
    """Standard Webhooks headers for ``body``; ``prefix="svix-"`` gives Svix's header names."""
    provider = "svix" if prefix == "svix-" else "standard_webhooks"
    return verifiers.sign(provider, secrets=[secret], body=body, now=now, headers={prefix + "id": msg_id})


def _verify(headers: dict[str, str], body: bytes, *, secrets: list[str] | None = None, now: float = NOW) -> None:
    verifiers.verify(
        "standard_webhooks", secrets=[SECRET] if secrets is None else secrets, headers=headers, body=body, now=now
    )


def _vector_headers(prefix: str) -> dict[str, str]:
    return {prefix + "id": VECTOR_ID, prefix + "timestamp": str(VECTOR_TS), prefix + "signature": VECTOR_SIGNATURE}


@pytest.mark.parametrize("provider", ["standard_webhooks", "svix"])
@pytest.mark.parametrize("prefix", ["webhook-", "svix-"])
def test_published_vector(provider: str, prefix: str) -> None:
    headers = _vector_headers(prefix)
    verifiers.verify(provider, secrets=[VECTOR_SECRET], headers=headers, body=VECTOR_BODY, now=VECTOR_TS)


def test_sign_reproduces_vector() -> None:
    headers = sign(VECTOR_BODY, secret=VECTOR_SECRET, msg_id=VECTOR_ID, now=VECTOR_TS)
    assert headers["webhook-signature"] == VECTOR_SIGNATURE


def test_secret_without_prefix_is_accepted() -> None:
    # The libraries accept the bare base64 secret too (test_signature_verification_with_and_without_prefix).
    bare = VECTOR_SECRET.removeprefix("whsec_")
    verifiers.verify("svix", secrets=[bare], headers=_vector_headers("webhook-"), body=VECTOR_BODY, now=VECTOR_TS)


def test_any_of_several_signatures_passes() -> None:
    # Shape of the libraries' test_multi_sig_payload_is_valid: unknown versions and wrong v1s around the valid one.
    wrong = "Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
    headers = sign(VECTOR_BODY)
    headers["webhook-signature"] = " ".join([f"v1,{wrong}", f"v2,{wrong}", headers["webhook-signature"], f"v1,{wrong}"])
    _verify(headers, VECTOR_BODY)


BODY = b'{"type":"invoice.paid","data":{"id":"in_1"}}'


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != name}


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "now", "error"),
    [
        pytest.param(sign(BODY), BODY + b" ", [SECRET], NOW, SignatureMismatch, id="tampered-body"),
        pytest.param(sign(BODY), BODY, [VECTOR_SECRET], NOW, SignatureMismatch, id="wrong-secret"),
        pytest.param({**sign(BODY), "webhook-id": "msg_other"}, BODY, [SECRET], NOW, SignatureMismatch, id="wrong-id"),
        pytest.param(sign(BODY, now=NOW - 301), BODY, [SECRET], NOW, TimestampOutOfRange, id="stale"),
        pytest.param(sign(BODY, now=NOW + 301), BODY, [SECRET], NOW, TimestampOutOfRange, id="future"),
        pytest.param(_without(sign(BODY), "webhook-id"), BODY, [SECRET], NOW, MissingHeader, id="missing-id"),
        pytest.param(_without(sign(BODY), "webhook-timestamp"), BODY, [SECRET], NOW, MissingHeader, id="missing-ts"),
        pytest.param(_without(sign(BODY), "webhook-signature"), BODY, [SECRET], NOW, MissingHeader, id="missing-sig"),
        pytest.param({}, BODY, [SECRET], NOW, MissingHeader, id="no-headers"),
        pytest.param(
            {**sign(BODY), "webhook-timestamp": "2023-11-14T22:13:20Z"},
            BODY,
            [SECRET],
            NOW,
            MalformedHeader,
            id="garbled-ts",
        ),
        pytest.param(
            {**sign(BODY), "webhook-signature": "no-comma-here"},
            BODY,
            [SECRET],
            NOW,
            MalformedHeader,
            id="garbled-sig",
        ),
        pytest.param(
            {**sign(BODY), "webhook-signature": "v1,%%%not-base64%%%"},
            BODY,
            [SECRET],
            NOW,
            SignatureMismatch,
            id="garbled-v1-value",
        ),
        pytest.param(
            {**sign(BODY), "webhook-signature": sign(BODY)["webhook-signature"].replace("v1,", "v2,")},
            BODY,
            [SECRET],
            NOW,
            UnsupportedVersion,
            id="unknown-version",
        ),
        pytest.param(sign(BODY), BODY, [], NOW, MissingSecret, id="no-secret"),
        pytest.param(sign(BODY), BODY, ["whsec_"], NOW, MissingSecret, id="empty-key"),
        pytest.param(sign(BODY), BODY, ["whsec_!!not base64!!"], NOW, MissingSecret, id="secret-not-base64"),
    ],
)
def test_rejects(
    headers: dict[str, str], body: bytes, secrets: list[str], now: float, error: type[VerificationError]
) -> None:
    with pytest.raises(error) as info:
        _verify(headers, body, secrets=secrets, now=now)
    assert info.value.reason == error.reason


def test_rotated_secret_accepted() -> None:
    old = "whsec_" + base64.b64encode(b"the-old-key-that-signed-this-one").decode()
    _verify(sign(BODY, secret=old), BODY, secrets=[SECRET, old])


def test_malformed_secret_does_not_lock_out_the_others() -> None:
    _verify(sign(BODY), BODY, secrets=["whsec_!!not base64!!", "whsec_", SECRET])


def test_empty_key_signature_is_not_accepted() -> None:
    # HMAC under an empty key is computable by anyone; a "whsec_" secret must never make it valid.
    forged = hmac.new(b"", f"{MSG_ID}.{NOW}.".encode() + BODY, hashlib.sha256).digest()
    headers = {**sign(BODY), "webhook-signature": "v1," + base64.b64encode(forged).decode()}
    with pytest.raises(VerificationError):
        _verify(headers, BODY, secrets=["whsec_"])


def test_svix_headers_used_when_webhook_headers_absent() -> None:
    _verify(sign(BODY, prefix="svix-"), BODY)


# --- v1a (Ed25519) -----------------------------------------------------------------------------

# No published v1a vector with its key pair exists; a key generated per test run signs instead.
PRIVATE = Ed25519PrivateKey.generate()
PUBLIC = "whpk_" + base64.b64encode(PRIVATE.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def _v1a(body: bytes, *, key: Ed25519PrivateKey = PRIVATE, msg_id: str = MSG_ID, now: int = NOW) -> str:
    return "v1a," + base64.b64encode(key.sign(f"{msg_id}.{now}.".encode() + body)).decode()


def _v1a_headers(signature: str) -> dict[str, str]:
    return {"webhook-id": MSG_ID, "webhook-timestamp": str(NOW), "webhook-signature": signature}


def test_v1a_verifies_with_public_key() -> None:
    _verify(_v1a_headers(_v1a(BODY)), BODY, secrets=[PUBLIC])


def test_v1a_beside_v1_entries() -> None:
    header = sign(BODY, secret=VECTOR_SECRET)["webhook-signature"] + " " + _v1a(BODY)
    _verify(_v1a_headers(header), BODY, secrets=[PUBLIC])
    _verify(_v1a_headers(header), BODY, secrets=[PUBLIC, VECTOR_SECRET])


@pytest.mark.parametrize(
    ("signature", "body", "secrets", "error"),
    [
        pytest.param(_v1a(BODY), BODY + b"x", [PUBLIC], SignatureMismatch, id="tampered-body"),
        pytest.param(_v1a(BODY, key=Ed25519PrivateKey.generate()), BODY, [PUBLIC], SignatureMismatch, id="other-key"),
        pytest.param("v1a,AAAA", BODY, [PUBLIC], SignatureMismatch, id="short-signature"),
        pytest.param(_v1a(BODY), BODY, ["whpk_AAAA"], SignatureMismatch, id="bad-public-key"),
        pytest.param(_v1a(BODY), BODY, [SECRET], UnsupportedVersion, id="hmac-secret-only"),
    ],
)
def test_v1a_rejects(signature: str, body: bytes, secrets: list[str], error: type[VerificationError]) -> None:
    with pytest.raises(error) as info:
        _verify(_v1a_headers(signature), body, secrets=secrets)
    assert info.value.reason == error.reason


# --- handshake / extract -----------------------------------------------------------------------


def test_no_handshake() -> None:
    assert verifiers.handshake("standard_webhooks", secrets=[SECRET], headers=sign(BODY), body=BODY, now=NOW) is None


@pytest.mark.parametrize("prefix", ["webhook-", "svix-"])
def test_extract(prefix: str) -> None:
    [info] = verifiers.extract("standard_webhooks", headers=sign(BODY, prefix=prefix), body=BODY)
    # The tenant is provider-specific (the endpoint URL names it), so it is left empty.
    assert info == verifiers.EventInfo("", "invoice.paid", MSG_ID)


@pytest.mark.parametrize("body", [b"", b"\xfe", b"[]", b'{"type":{"a":1}}'])
def test_extract_never_raises_on_odd_bodies(body: bytes) -> None:
    [info] = verifiers.extract("svix", headers={}, body=body)
    assert info == verifiers.EventInfo()


# --- contract ----------------------------------------------------------------------------------

SIGNATURE_ENTRIES = st.lists(
    st.one_of(
        st.text(max_size=30),
        st.builds(lambda v, s: f"{v},{s}", st.sampled_from(["v1", "v1a", "v2"]), st.text(max_size=90)),
    ),
    max_size=3,
).map(" ".join)
SECRETS = st.lists(st.one_of(st.text(max_size=30), st.just(SECRET), st.just(PUBLIC), st.just("whsec_")), max_size=3)


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=256),
    msg_id=st.text(max_size=30),
    ts=st.one_of(st.text(max_size=20), st.just(str(NOW))),
    sig=SIGNATURE_ENTRIES,
    secrets=SECRETS,
    prefix=st.sampled_from(["webhook-", "svix-"]),
)
def test_raises_only_verification_errors(
    body: bytes, msg_id: str, ts: str, sig: str, secrets: list[str], prefix: str
) -> None:
    headers = {prefix + "id": msg_id, prefix + "timestamp": ts, prefix + "signature": sig}
    with contextlib.suppress(VerificationError):
        verifiers.verify("standard_webhooks", secrets=secrets, headers=headers, body=body, now=NOW)
    with contextlib.suppress(VerificationError):
        verifiers.handshake("standard_webhooks", secrets=secrets, headers=headers, body=body, now=NOW)
    assert verifiers.extract("standard_webhooks", headers=headers, body=body)
