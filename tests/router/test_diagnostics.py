from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest

from router.settings import Settings
from tests.router.conftest import ADMIN_TOKEN, SLACK_SECRET, SLACK_URL, Seed, running, seed_slack
from tests.verifiers import test_asana, test_notion, test_slack

pytestmark = pytest.mark.anyio
AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_failures_explain_without_leaking(settings: Settings, seed: Seed) -> None:
    await seed_slack(seed)
    body = b'{"type":"event_callback","team_id":"T0001"}'
    forged = test_slack.sign(body, secret="attacker", now=int(time.time()))
    stale = test_slack.sign(body, secret=SLACK_SECRET, now=int(time.time()) - 900)
    async with running(settings) as http:
        await http.post(SLACK_URL, content=body, headers=forged)
        await http.post(SLACK_URL, content=body, headers=stale)
        listed = await http.get("/api/integrations/slack-app/verification-failures", headers=AUTH)
        unknown = await http.get("/api/integrations/nope/verification-failures", headers=AUTH)
    assert unknown.status_code == 404
    newest, oldest = listed.json()["data"]
    assert newest["reason"] == "timestamp_out_of_range" and 890 <= newest["skew_s"] <= 910
    assert oldest["reason"] == "signature_mismatch" and oldest["secrets_tried"] == 1
    assert oldest["scheme"] == "slack-v0" and "x-slack-signature" in oldest["headers_seen"]
    [fingerprint] = oldest["expected_fingerprints"]
    assert len(fingerprint) == 8
    text = listed.text
    expected = test_slack.sign(body, secret=SLACK_SECRET, now=int(forged["x-slack-request-timestamp"]))
    for leak in (SLACK_SECRET, forged["x-slack-signature"][3:], expected["x-slack-signature"][3:], "event_callback"):
        assert leak not in text


async def test_failures_are_capped_per_integration(settings: Settings, seed: Seed) -> None:
    await seed_slack(seed)
    async with running(settings) as http:
        for _ in range(60):
            await http.post(SLACK_URL, content=b"{}")
        listed = await http.get("/api/integrations/slack-app/verification-failures", headers=AUTH)
    assert len(listed.json()["data"]) == 50


async def test_notion_token_is_captured_and_only_active_once_an_operator_says_so(
    settings: Settings, seed: Seed
) -> None:
    await seed(integration=[{"id": "notion-app", "type": "notion"}])
    url = "/webhook/triggers/connect/notion/notion-app"
    token = "secret_tokenFromNotion123"
    event = json.dumps({"type": "page.created", "workspace_id": "w1", "id": "e1"}).encode()
    async with running(settings) as http:
        handshake = await http.post(url, json={"verification_token": token})
        before = await http.post(url, content=event, headers=test_notion.sign(event, secret=token))
        [capture] = (await http.get("/api/integrations/notion-app/handshakes", headers=AUTH)).json()["data"]
        activated = await http.post(f"/api/integrations/notion-app/handshakes/{capture['at']}/activate", headers=AUTH)
        await _until(lambda: http.post(url, content=event, headers=test_notion.sign(event, secret=token)), 200)
    assert handshake.status_code == 200
    assert before.status_code == 401 and before.json() == {"error": "missing_secret"}
    assert capture["value"] == token and capture["activated"] is False
    assert activated.json()["change"] == "updated"


async def test_asana_hook_secret_is_active_only_on_an_integration_without_one(settings: Settings, seed: Seed) -> None:
    await seed(
        integration=[{"id": "fresh", "type": "asana"}, {"id": "armed", "type": "asana", "secrets": ["existing-secret"]}]
    )
    body = json.dumps({"events": [{"action": "changed", "resource": {"gid": "1"}}]}).encode()
    async with running(settings) as http:
        for name in ("fresh", "armed"):
            reply = await http.post(
                f"/webhook/triggers/connect/asana/{name}", headers={"x-hook-secret": "attacker-or-asana"}
            )
            assert reply.headers["x-hook-secret"] == "attacker-or-asana"
        await _until(
            lambda: http.post(
                "/webhook/triggers/connect/asana/fresh",
                content=body,
                headers=test_asana.sign(body, secret="attacker-or-asana"),
            ),
            200,
        )
        armed = await http.post(
            "/webhook/triggers/connect/asana/armed",
            content=body,
            headers=test_asana.sign(body, secret="attacker-or-asana"),
        )
        [capture] = (await http.get("/api/integrations/armed/handshakes", headers=AUTH)).json()["data"]
    assert armed.status_code == 401 and capture["activated"] is False


async def _until(send: Callable[[], Awaitable[httpx.Response]], status: int) -> None:
    """Retry until the status is seen: registry changes reach the receiver within its refresh interval."""
    deadline = time.monotonic() + 2
    while True:
        response = await send()
        if response.status_code == status:
            return
        assert time.monotonic() < deadline, f"still {response.status_code}"
        await asyncio.sleep(0.02)
