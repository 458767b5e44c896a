from __future__ import annotations

import base64
import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from subscriptions.crypto import SecretBox, context, generate_master_key, is_current, parse_master_key
from subscriptions.errors import SecretError

KEY = bytes(range(32))


def test_round_trip_and_fresh_ciphertext_each_time() -> None:
    box = SecretBox(KEY)
    a = box.seal("s3cret", context="integration:p:i")
    b = box.seal("s3cret", context="integration:p:i")
    assert a != b and "s3cret" not in a
    assert box.open(a, context="integration:p:i") == box.open(b, context="integration:p:i") == "s3cret"


@pytest.mark.parametrize("tamper", ["key", "context", "bytes", "format"])
def test_anything_wrong_fails_closed(tamper: str) -> None:
    token = SecretBox(KEY).seal("s3cret", context="integration:p:i")
    box, context = SecretBox(KEY), "integration:p:i"
    if tamper == "key":
        box = SecretBox(bytes(32))
    elif tamper == "context":  # a ciphertext copied onto another record
        context = "integration:p:other"
    elif tamper == "bytes":
        token = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    else:
        token = "plaintext"
    with pytest.raises(SecretError) as info:
        box.open(token, context=context)
    assert "s3cret" not in str(info.value)


@given(st.text())
@settings(max_examples=100, deadline=None)
def test_any_text_round_trips(value: str) -> None:
    box = SecretBox(KEY)
    assert box.open(box.seal(value, context="c"), context="c") == value


def test_master_key_parsing() -> None:
    assert len(parse_master_key(generate_master_key())) == 32
    for bad in ("not base64!", "c2hvcnQ="):
        with pytest.raises(SecretError):
            parse_master_key(bad)


def _sealed_before(plaintext: str, aad: str) -> str:
    """A value as versions before hr2 sealed it: the parts joined with ':' as associated data."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    data_key, wrap_nonce, nonce = AESGCM.generate_key(bit_length=256), os.urandom(12), os.urandom(12)
    wrapped = AESGCM(KEY).encrypt(wrap_nonce, data_key, aad.encode())
    sealed = AESGCM(data_key).encrypt(nonce, plaintext.encode(), aad.encode())
    return f"hr1.{b64(wrap_nonce + wrapped)}.{b64(nonce + sealed)}"


def test_context_parts_cannot_run_into_each_other() -> None:
    # Joined with ':', integration "a:b" of record "c" and integration "a" of record "b:c" bound the same bytes.
    assert context("integration", "a:b", "c") != context("integration", "a", "b:c")
    assert context("ab", "") != context("a", "b") != context("a", "b", "")
    box = SecretBox(KEY)
    token = box.seal("s3cret", context=("integration", "a", "b:c"))
    assert token.startswith("hr2.")
    with pytest.raises(SecretError):
        box.open(token, context=("integration", "a:b", "c"))
    assert box.open(token, context=("integration", "a", "b:c")) == "s3cret"


def test_values_sealed_before_still_open_under_their_old_context_only() -> None:
    old = _sealed_before("s3cret", "integration:p:i")
    box = SecretBox(KEY)
    assert not is_current(old)
    assert box.open(old, context=("integration", "p", "i")) == "s3cret"
    with pytest.raises(SecretError):
        box.open(old, context=("integration", "p", "other"))
