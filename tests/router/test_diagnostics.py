from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest
from redis.asyncio import Redis

from router.admin.core import Activated, CapturePage, Cleared, FailurePage, IntegrationOverviewPage, TriggerPage
from router.ingress.diagnostics import CAPTURE_TTL_S, CAPTURES_KEPT, CAPTURES_PER_SOURCE, Diagnostics
from router.settings import Settings
from router.storage.keys import Keys
from subscriptions.registry import Registry
from tests.router.conftest import (
    ADMIN_TOKEN,
    SLACK_SECRET,
    SLACK_URL,
    Seed,
    make_registry,
    make_worker,
    running,
    seed_slack,
)
from tests.router.operation_support import component, openapi, operation, parameters, schema_name
from tests.router.test_ingest import post_slack, slack_event
from tests.router.waiting import receiver_caught_up
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


async def test_asana_hook_secret_from_a_handshake_is_only_captured(settings: Settings, seed: Seed) -> None:
    """No record's secret changes on an unauthenticated handshake, whether it has a secret or not: the router
    takes one only while it creates the subscription itself (tests/subscriptions/test_handshakes.py)."""
    await seed(
        integration=[{"id": "fresh", "type": "asana"}, {"id": "armed", "type": "asana", "secrets": ["existing-secret"]}]
    )
    body = json.dumps({"events": [{"action": "changed", "resource": {"gid": "1"}}]}).encode()
    forged = test_asana.sign(body, secret="attacker-or-asana")
    async with running(settings) as http:
        for name in ("fresh", "armed"):
            reply = await http.post(
                f"/webhook/triggers/connect/asana/{name}", headers={"x-hook-secret": "attacker-or-asana"}
            )
            assert reply.headers["x-hook-secret"] == "attacker-or-asana"
        await receiver_caught_up(http, seed)  # nothing changed in the receiver's snapshot either
        fresh = await http.post("/webhook/triggers/connect/asana/fresh", content=body, headers=forged)
        armed = await http.post("/webhook/triggers/connect/asana/armed", content=body, headers=forged)
        captures = {
            name: (await http.get(f"/api/integrations/{name}/handshakes", headers=AUTH)).json()["data"]
            for name in ("fresh", "armed")
        }
        [capture] = captures["fresh"]
        activated = await http.post(f"/api/integrations/fresh/handshakes/{capture['id']}/activate", headers=AUTH)
        await _until(lambda: http.post("/webhook/triggers/connect/asana/fresh", content=body, headers=forged), 200)
    assert (fresh.status_code, fresh.json()) == (401, {"error": "missing_secret"})
    assert (armed.status_code, armed.json()) == (401, {"error": "signature_mismatch"})
    assert [c["activated"] for c in captures["fresh"] + captures["armed"]] == [False, False]
    assert activated.json()["change"] == "updated"  # the operator, who knows it came from Asana, arms it


async def test_forged_handshakes_never_push_out_a_kept_capture(settings: Settings, seed: Seed, redis: Redis) -> None:
    """Notion's token arrives once: a flood of forged ones afterwards, from one address or many, must not evict
    it; what does not fit is counted, and the operator can clear the list for the provider to resend."""
    await seed(integration=[{"id": "notion-app", "type": "notion"}])
    url = "/webhook/triggers/connect/notion/notion-app"
    async with running(settings) as http:
        await http.post(url, json={"verification_token": "secret_genuine"})
        for n in range(60):
            await http.post(url, json={"verification_token": f"secret_forged{n}"})
        listed = (await http.get("/api/integrations/notion-app/handshakes", headers=AUTH)).json()
        cleared = await http.delete("/api/integrations/notion-app/handshakes", headers=AUTH)
        await http.post(url, json={"verification_token": "secret_resent"})
        after = (await http.get("/api/integrations/notion-app/handshakes", headers=AUTH)).json()
        unknown = await http.delete("/api/integrations/nope/handshakes", headers=AUTH)
    values = [c["value"] for c in listed["data"]]
    assert values[0] == "secret_genuine"  # oldest first, and kept
    assert len(values) == CAPTURES_PER_SOURCE  # every request came from one address (the test client's)
    assert {c["source"] for c in listed["data"]} == {"127.0.0.1"}
    assert listed["dropped"] == 61 - CAPTURES_PER_SOURCE
    assert cleared.json() == {"deleted": CAPTURES_PER_SOURCE}
    assert [c["value"] for c in after["data"]] == ["secret_resent"] and after["dropped"] == 0
    assert unknown.status_code == 404


async def test_captures_are_bounded_across_sources(redis: Redis) -> None:
    diagnostics = Diagnostics(redis, Keys(), make_registry(redis).box)
    kept = [
        await diagnostics.captured("app", "token", f"v{n}", activated=False, source=f"10.0.{n}.1") for n in range(30)
    ]
    assert kept == [True] * CAPTURES_KEPT + [False] * (30 - CAPTURES_KEPT)
    assert await diagnostics.captured("app", "secret", "asked-for", activated=True, source="10.9.9.9") is True
    captures, dropped = await diagnostics.captures("app")
    assert [c["value"] for c in captures] == [f"v{n}" for n in range(CAPTURES_KEPT)] + ["asked-for"]
    assert dropped == 30 - CAPTURES_KEPT
    for key in (Keys().handshake_captures("app"), Keys().handshake_capture_counts("app")):
        assert 0 < await redis.ttl(key) <= CAPTURE_TTL_S  # an abandoned integration's captures lapse
    assert len(await redis.hkeys(Keys().handshake_capture_counts("app"))) <= CAPTURES_KEPT + 2


async def _until(send: Callable[[], Awaitable[httpx.Response]], status: int) -> None:
    """Retry until the status is seen: registry changes reach the receiver within its refresh interval."""
    deadline = time.monotonic() + 2
    while True:
        response = await send()
        if response.status_code == status:
            return
        assert time.monotonic() < deadline, f"still {response.status_code}"
        await asyncio.sleep(0.02)


async def test_secret_scheme_failures_are_kept_and_listed_without_a_hash_of_the_secret(
    settings: Settings, seed: Seed, redis: Redis
) -> None:
    # A Mailchimp URL secret is compared as is: sha256(secret)[:8] would let a reader test guesses offline.
    secret = "mailchimp-url-s3cret"
    await seed(integration=[{"id": "mc-app", "type": "mailchimp", "secrets": [secret]}])
    keys = Keys()
    old = {"at": 1, "provider": "mailchimp", "reason": "signature_mismatch", "scheme": "mailchimp-url-secret"}
    old["expected_fingerprints"] = ["0badf00d"]  # what an earlier version kept
    await redis.lpush(keys.verification_failures("mc-app"), json.dumps(old))
    async with running(settings) as http:
        refused = await http.post("/webhook/triggers/connect/mailchimp/mc-app?secret=guess", content=b"type=x")
        listed = await http.get("/api/integrations/mc-app/verification-failures", headers=AUTH)
    assert refused.status_code == 401
    newest, oldest = listed.json()["data"]
    assert newest["scheme"] == oldest["scheme"] == "mailchimp-url-secret" and newest["secrets_tried"] == 1
    assert "expected_fingerprints" not in newest and "expected_fingerprints" not in oldest
    assert "0badf00d" not in listed.text and secret not in listed.text


async def test_the_schema_documents_the_integration_routes_and_their_answers_match_it(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_slack(seed)
    await seed(integration=[{"id": "notion-app", "type": "notion"}])
    body = b'{"type":"event_callback","team_id":"T0001"}'
    async with running(settings) as http:
        document = await openapi(http)
        await http.post(SLACK_URL, content=body, headers=test_slack.sign(body, secret="x", now=int(time.time())))
        await http.post("/webhook/triggers/connect/notion/notion-app", json={"verification_token": "secret_t"})
        await post_slack(http, slack_event())
        await make_worker(redis, registry).run_once()
        integrations = await http.get("/api/integrations", headers=AUTH)
        failures = await http.get("/api/integrations/slack-app/verification-failures", headers=AUTH)
        captures = await http.get("/api/integrations/notion-app/handshakes", headers=AUTH)
        capture_id = captures.json()["data"][0]["id"]
        activated = await http.post(f"/api/integrations/notion-app/handshakes/{capture_id}/activate", headers=AUTH)
        cleared = await http.delete("/api/integrations/notion-app/handshakes", headers=AUTH)
        triggers = await http.get("/api/workflows/wf-1/triggers", headers=AUTH)
    operations = [
        ("GET", "/integrations", "IntegrationOverviewPage", set()),
        ("GET", "/integrations/{integration_id}/verification-failures", "FailurePage", {"integration_id"}),
        ("GET", "/integrations/{integration_id}/handshakes", "CapturePage", {"integration_id"}),
        ("DELETE", "/integrations/{integration_id}/handshakes", "Cleared", {"integration_id"}),
        (
            "POST",
            "/integrations/{integration_id}/handshakes/{capture_id}/activate",
            "Activated",
            {"integration_id", "capture_id"},
        ),
        ("GET", "/workflows/{workflow_id}/triggers", "TriggerPage", {"workflow_id"}),
    ]
    for method, path, model, path_parameters in operations:
        found = operation(document, method, path)
        declared = parameters(found)
        assert set(declared) == path_parameters and all(p["in"] == "path" for p in declared.values())
        assert schema_name(found, 200) == model and "requestBody" not in found
    # The verifier's diagnostics beyond the named ones are documented as scalars or lists of them.
    assert component(document, "VerificationFailure")["additionalProperties"]
    listed = IntegrationOverviewPage.model_validate(integrations.json())
    assert {(i.id, i.secrets_count) for i in listed.data} == {("slack-app", 1), ("notion-app", 0)}
    [failure] = FailurePage.model_validate(failures.json()).data
    assert failure.reason == "signature_mismatch" and failure.secrets_tried == 1 and failure.at_iso
    [capture] = CapturePage.model_validate(captures.json()).data
    assert capture.value == "secret_t" and capture.id == capture_id
    assert Activated.model_validate(activated.json()).change == "updated"
    assert Cleared.model_validate(cleared.json()).deleted == 1
    [job] = TriggerPage.model_validate(triggers.json()).data
    assert job.workflow == "wf-1" and job.user == "u1"
