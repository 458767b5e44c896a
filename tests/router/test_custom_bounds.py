"""Custom webhooks parse a body only once it is verified; setup detection reads small bodies only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from redis.asyncio import Redis

import router.ingress.custom
from router.settings import Settings
from tests.router.conftest import Seed, running, xrange_all
from tests.router.test_custom_webhooks import KEYS, definition, hmac_headers, seed_crm, url
from verifiers import HANDSHAKE_MAX_BYTES

pytestmark = pytest.mark.anyio


def _padded(payload: dict[str, Any], size: int) -> bytes:
    body = json.dumps(payload | {"padding": ""}).encode()
    return json.dumps(payload | {"padding": "x" * (size - len(body))}).encode()


async def test_an_unverified_body_is_never_parsed(
    settings: Settings, seed: Seed, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[int] = []
    real = router.ingress.custom.parse_body

    def spy(body: bytes, content_type: str) -> Any:
        parsed.append(len(body))
        return real(body, content_type)

    monkeypatch.setattr(router.ingress.custom, "parse_body", spy)
    await seed_crm(seed, custom=definition(), teams={"u1": "T1"})
    body = _padded({"team": {"id": "T1"}}, 1024 * 1024)
    async with running(settings) as http:
        forged = await http.post(url("cw-1"), content=body, headers={**hmac_headers(body, "wrong"), "x-event": "e"})
        assert (forged.status_code, forged.json()) == (401, {"error": "signature_mismatch"})
        assert parsed == []
        signed = await http.post(url("cw-1"), content=body, headers={**hmac_headers(body), "x-event": "e"})
    assert signed.status_code == 200, signed.text
    assert parsed == [len(body)]  # once, after verification
    [(_, stored)] = await xrange_all(redis, KEYS.ingest)
    assert stored[b"provider_id"] == b"T1"  # routing still reads the whole verified body


@pytest.mark.parametrize(("size", "status"), [(HANDSHAKE_MAX_BYTES, 200), (HANDSHAKE_MAX_BYTES + 1, 401)])
async def test_setup_is_detected_only_in_a_body_small_enough_to_be_one(
    settings: Settings, seed: Seed, redis: Redis, size: int, status: int
) -> None:
    response = {"status": 200, "body": "ready", "setup_when": "$.body.kind", "setup_equals": "setup"}
    await seed_crm(seed, custom=definition(response=response), teams={"u1": "T1"})
    body = _padded({"kind": "setup"}, size)
    async with running(settings) as http:
        answer = await http.post(url("cw-1"), content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status
    if status == 200:
        assert answer.text == "ready"
    assert await redis.exists(KEYS.ingest) == 0
