"""Target URLs and Request-trigger rule values are secrets: sealed at rest, and records written in clear by earlier
versions are still read and sealed on their next save."""

from __future__ import annotations

import base64
import json

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from subscriptions.crypto import SecretBox
from subscriptions.keys import RegistryKeys
from subscriptions.models import HttpTarget, Workflow
from subscriptions.registry import Registry

pytestmark = pytest.mark.anyio

KEY = bytes(range(32))
KEYS = RegistryKeys()
TARGET_URL = "https://hooks.example.com/in/T0K3N-in-the-path?key=qu3ry-t0ken"
TARGET_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef").decode()
RULE_VALUE = "sh4red-header-s3cret"


def _workflow() -> Workflow:
    return Workflow.model_validate(
        {
            "id": "wf-1",
            "project": "p1",
            "integration": "i1",
            "trigger_type": "request",
            "request": {"header_validations": [{"key": "X-Shared", "value": RULE_VALUE}]},
            "target": {"type": "http", "url": TARGET_URL, "secrets": [TARGET_SECRET]},
        }
    )


@pytest.fixture
def registry(redis: Redis) -> Registry:
    return Registry(redis, SecretBox(KEY))


async def _raw(redis: Redis) -> bytes:
    raw = await redis.hget(KEYS.records("workflow"), "wf-1")
    assert isinstance(raw, bytes)
    return raw


async def test_target_urls_and_rule_values_are_sealed_at_rest(registry: Registry, redis: Redis) -> None:
    assert await registry.put(_workflow()) == "created"
    raw = await _raw(redis)
    for secret in (TARGET_URL, "T0K3N-in-the-path", "qu3ry-t0ken", RULE_VALUE):
        assert secret.encode() not in raw
    stored = await registry.get("workflow", "wf-1")
    assert isinstance(stored, Workflow) and isinstance(stored.target, HttpTarget) and stored.request is not None
    assert stored.target.url.get_secret_value() == TARGET_URL
    [rule] = stored.request.header_validations
    assert rule.value is not None and rule.value.get_secret_value() == RULE_VALUE
    assert TARGET_URL not in repr(stored) and RULE_VALUE not in repr(stored)


async def test_records_written_in_clear_are_read_and_sealed_on_the_next_save(registry: Registry, redis: Redis) -> None:
    await registry.put(_workflow())
    doc = json.loads(await _raw(redis))
    doc["target"]["url"] = TARGET_URL  # as an earlier version stored them
    doc["request"]["header_validations"][0]["value"] = RULE_VALUE
    await redis.hset(KEYS.records("workflow"), "wf-1", json.dumps(doc))
    stored = await registry.get("workflow", "wf-1")
    assert isinstance(stored, Workflow) and isinstance(stored.target, HttpTarget)
    assert stored.target.url.get_secret_value() == TARGET_URL
    assert await registry.put(_workflow()) == "unchanged"  # the same record; only its stored form changes
    raw = await _raw(redis)
    assert TARGET_URL.encode() not in raw and RULE_VALUE.encode() not in raw
    version = await registry.version()
    assert await registry.put(_workflow()) == "unchanged" and await registry.version() == version  # nothing left


def test_a_refused_target_url_is_not_echoed_in_the_error() -> None:
    with pytest.raises(ValidationError) as info:
        HttpTarget.model_validate({"url": "ftp://hooks.example.com/T0K3N", "secrets": [TARGET_SECRET]})
    assert "T0K3N" not in str(info.value) and "http(s)://" in str(info.value)
