"""Unverified bodies are parsed only when small enough to be a handshake and holding its marker."""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import verifiers
from verifiers import HANDSHAKE_MAX_BYTES, VerificationError
from verifiers._extract import handshake_json

NOW = 1_700_000_000
# One handshake per provider whose handshake is recognised from the body, exactly as the provider sends it.
HANDSHAKES: dict[str, dict[str, Any]] = {
    "discord": {"type": 1, "application_id": "1"},
    "greenhouse": {"action": "ping", "payload": {"web_hook_id": 1}},
    "intercom": {"type": "notification_event", "topic": "ping"},
    "monday": {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"},
    "notion": {"verification_token": "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"},
    "slack": {"token": "t", "challenge": "c", "type": "url_verification"},
    "xero": {"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": "S0ME"},
    "zoom": {"event": "endpoint.url_validation", "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}},
}


def _recognised(provider: str, body: bytes) -> bool:
    """Whether the router would treat ``body`` as a handshake: answered, or verified as one (and refused)."""
    try:
        reply = verifiers.handshake(provider, secrets=["s"], headers={}, body=body, method="POST", now=NOW)
    except VerificationError:
        return True  # signed handshakes are verified first: being verified means it was parsed as one
    return reply is not None


def _padded(payload: dict[str, Any], size: int) -> bytes:
    body = json.dumps(payload | {"padding": ""}).encode()
    return json.dumps(payload | {"padding": "x" * (size - len(body))}).encode()


@pytest.mark.parametrize("provider", sorted(HANDSHAKES))
def test_a_small_handshake_is_recognised(provider: str) -> None:
    assert _recognised(provider, _padded(HANDSHAKES[provider], HANDSHAKE_MAX_BYTES))


@pytest.mark.parametrize("provider", sorted(HANDSHAKES))
def test_a_handshake_over_the_bound_is_not_parsed(provider: str) -> None:
    assert not _recognised(provider, _padded(HANDSHAKES[provider], HANDSHAKE_MAX_BYTES + 1))


def test_a_7_mib_unsigned_notion_handshake_is_neither_answered_nor_parsed() -> None:
    body = _padded(HANDSHAKES["notion"], 7 * 1024 * 1024)
    tracemalloc.start()
    try:
        reply = verifiers.handshake("notion", secrets=["s"], headers={}, body=body, now=NOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reply is None
    # Parsing would build a 7 MiB str at least (on main: ~14 MiB peak); skipping it allocates a few KiB
    # (building the request copies the body once, which is why the bound is the body's size, not zero).
    assert peak < len(body) + 1024 * 1024


@given(body=st.binary(max_size=HANDSHAKE_MAX_BYTES + 64), marker=st.binary(min_size=1, max_size=8))
def test_handshake_json_parses_only_small_marked_bodies(body: bytes, marker: bytes) -> None:
    if len(body) > HANDSHAKE_MAX_BYTES or marker not in body:
        assert handshake_json(body, marker) is None


def test_handshake_json_parses_a_small_marked_body() -> None:
    assert handshake_json(b'{"challenge": "c"}', b'"challenge"') == {"challenge": "c"}
    assert handshake_json(b'{"challenge": "c"}', b'"verification_token"') is None
