from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subscriptions.crypto import SecretBox, generate_master_key, parse_master_key
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
