from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from router.ingress.diagnostics import Diagnostics
from router.settings import Settings
from router.storage.keys import Keys
from subscriptions.config import load
from subscriptions.custom import CustomWebhook
from subscriptions.errors import ConfigError
from subscriptions.registry import Registry
from tests.router.conftest import Seed, make_worker, running, xrange_all
from tests.router.waiting import receiver_caught_up
from tests.verifiers import test_asana, test_slack

pytestmark = pytest.mark.anyio
KEYS = Keys()
HOOK_SECRET = "custom-hook-secret"
HMAC_SPEC = {
    "algorithm": "sha256",
    "encoding": "hex",
    "signature_header": "X-Sig",
    "prefix": "sha256=",
    "signed_content": "{timestamp}.{body}",
    "timestamp_header": "X-Ts",
}


def hmac_headers(body: bytes, secret: str = HOOK_SECRET, *, ts: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if ts is None else ts)
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"x-sig": f"sha256={digest}", "x-ts": stamp, "content-type": "application/json"}


def url(definition: str, **query: str) -> str:
    return f"/webhook/triggers/custom/{definition}" + (
        "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
    )


async def jobs(redis: Redis, workflow: str) -> list[dict[bytes, bytes]]:
    return [fields for _, fields in await xrange_all(redis, KEYS.triggers(workflow))]


async def outcome(redis: Redis, event_id: str) -> dict[str, Any]:
    raw = await redis.hget(KEYS.outcomes, event_id)
    assert raw is not None
    return dict(json.loads(raw))


def definition(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "cw-1",
        "name": "Record Created",
        "integration": "crm",
        "level": "app",
        "verification": {"hmac": HMAC_SPEC},
        "secrets": [HOOK_SECRET],
        "routing": "$.body.team.id",
        "event_type": "$.headers['x-event']",
    }
    base.update(overrides)
    return base


async def seed_crm(seed: Seed, *, custom: dict[str, Any], teams: dict[str, str], extra_workflows: int = 0) -> None:
    """Integration "crm", one user per entry of ``teams`` (user → provider id), each with credential cred-<user>,
    and workflows on the custom trigger activated for every user."""
    workflows = [f"wf-{n}" for n in range(1 + extra_workflows)]
    await seed(
        integration=[{"id": "crm", "type": "github", "secrets": ["integration-secret"]}],
        user=[{"id": u} for u in teams],
        credential=[{"id": f"cred-{u}", "user": u, "integration": "crm", "provider_id": t} for u, t in teams.items()],
        custom_webhook=[custom],
        workflow=[
            {"id": wf, "integration": "crm", "trigger_type": "custom", "trigger": custom["id"]} for wf in workflows
        ],
        activate=[(wf, u) for wf in workflows for u in teams],
    )


async def test_app_level_event_is_routed_by_path_to_the_matching_credential(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_crm(seed, custom=definition(), teams={"u1": "T1", "u2": "T2", "u3": "T3"})
    body = json.dumps({"team": {"id": "T2"}, "record": 1}).encode()
    async with running(settings) as http:
        response = await http.post(url("cw-1"), content=body, headers={**hmac_headers(body), "x-event": "created"})
    assert response.status_code == 200, response.text
    [event_id] = response.json()["ids"]
    [(_, stored)] = await xrange_all(redis, KEYS.ingest)
    assert stored[b"source"] == b"custom" and stored[b"definition"] == b"cw-1"
    assert stored[b"provider_id"] == b"T2" and stored[b"event_type"] == b"created" and stored[b"body"] == body
    assert b"x-sig" not in stored[b"headers"]  # signatures are never stored
    assert await make_worker(redis, registry).run_once() == 1
    [job] = await jobs(redis, "wf-0")
    assert job[b"credential"] == b"cred-u2" and job[b"user"] == b"u2" and job[b"event_id"].decode() == event_id
    assert (await outcome(redis, event_id))["status"] == "matched"


async def test_app_level_event_for_an_unknown_tenant_is_kept_and_marked(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_crm(seed, custom=definition(), teams={"u1": "T1"})
    body = b'{"team": {"id": "T9"}}'
    async with running(settings) as http:
        response = await http.post(url("cw-1"), content=body, headers=hmac_headers(body))
    [event_id] = response.json()["ids"]
    await make_worker(redis, registry).run_once()
    assert (await outcome(redis, event_id))["status"] == "no_credential"
    assert await jobs(redis, "wf-0") == []


async def test_user_level_event_is_routed_by_the_id_query_parameter(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    custom = definition(level="user", routing=None)
    await seed_crm(seed, custom=custom, teams={"u1": "T1", "u2": "T1"})
    body = b'{"team": {"id": "T1"}}'
    async with running(settings) as http:
        ok = await http.post(url("cw-1", id="cred-u1"), content=body, headers=hmac_headers(body))
        missing = await http.post(url("cw-1"), content=body, headers=hmac_headers(body))
        unknown = await http.post(url("cw-1", id="cred-nope"), content=body, headers=hmac_headers(body))
    assert ok.status_code == 200
    assert (missing.status_code, missing.json()) == (400, {"error": "missing_id"})
    assert (unknown.status_code, unknown.json()) == (404, {"error": "unknown_credential"})
    await make_worker(redis, registry).run_once()
    [job] = await jobs(redis, "wf-0")  # the body's tenant is shared; the URL's id alone decides
    assert job[b"credential"] == b"cred-u1"


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ({}, 401, "missing_header"),
        ({"x-sig": "sha256=" + "00" * 32}, 401, "signature_mismatch"),
        ({"ts": "old"}, 401, "timestamp_out_of_range"),
        ({"secret": "wrong"}, 401, "signature_mismatch"),
        ({"ok": "1"}, 200, None),
    ],
)
async def test_hmac_spec_verification(
    settings: Settings, seed: Seed, redis: Redis, headers: dict[str, str], status: int, reason: str | None
) -> None:
    await seed_crm(seed, custom=definition(), teams={"u1": "T1"})
    body = b'{"team": {"id": "T1"}}'
    if "ok" in headers:
        sent = hmac_headers(body)
    elif "ts" in headers:
        sent = hmac_headers(body, ts=int(time.time()) - 3600)
    elif "secret" in headers:
        sent = hmac_headers(body, secret=headers["secret"])
    elif headers:
        sent = {**hmac_headers(body), **headers}
    else:
        sent = {"content-type": "application/json"}
    async with running(settings) as http:
        response = await http.post(url("cw-1"), content=body, headers=sent)
    assert response.status_code == status
    stored = await xrange_all(redis, KEYS.ingest)
    if reason is None:
        assert len(stored) == 1
    else:
        assert response.json() == {"error": reason} and stored == []


async def test_catalog_provider_verification_with_the_integration_secret(
    settings: Settings, seed: Seed, redis: Redis
) -> None:
    custom = definition(verification={"provider": "slack"}, secrets=[], routing="$.body.team_id", event_type=None)
    await seed(
        integration=[{"id": "crm", "type": "slack", "secrets": ["slack-secret"]}],
        custom_webhook=[custom],
    )
    body = json.dumps({"team_id": "T1", "type": "event_callback"}).encode()
    challenge = json.dumps({"type": "url_verification", "challenge": "abc"}).encode()
    now = int(time.time())
    async with running(settings) as http:
        good = await http.post(url("cw-1"), content=body, headers=test_slack.sign(body, secret="slack-secret", now=now))
        bad = await http.post(url("cw-1"), content=body, headers=test_slack.sign(body, secret="other", now=now))
        handshake = await http.post(
            url("cw-1"), content=challenge, headers=test_slack.sign(challenge, secret="slack-secret", now=now)
        )
    assert good.status_code == 200 and bad.status_code == 401
    assert handshake.status_code == 200 and b"abc" in handshake.content
    [(_, stored)] = await xrange_all(redis, KEYS.ingest)
    assert stored[b"provider_id"] == b"T1" and stored[b"integration_type"] == b"slack"


async def test_setup_request_gets_the_configured_response_and_its_values_are_captured_not_armed(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    response = {
        "status": 200,
        "headers": {"X-Hook-Secret": "{{ $.headers['x-hook-secret'] }}", "Content-Type": "application/json"},
        "body": '{"ok": true, "shop": "{{$.query.shop}}"}',
        "persist": {"secret": "$.headers['x-hook-secret']", "token": "$.body.verification_token"},
        "setup_when": "$.headers['x-hook-secret']",
    }
    await seed_crm(seed, custom=definition(secrets=[], response=response), teams={"u1": "T1"})
    body = b'{"team": {"id": "T1"}}'
    async with running(settings) as http:
        setup = await http.post(
            url("cw-1", shop="s1"),
            content=b'{"verification_token": "vt-1"}',
            headers={"X-Hook-Secret": "provider-issued"},
        )
        forged = await http.post(url("cw-1"), content=b"{}", headers={"X-Hook-Secret": "attacker"})
        after = await http.post(url("cw-1"), content=body, headers=hmac_headers(body, "provider-issued"))
        attacker = await http.post(url("cw-1"), content=body, headers=hmac_headers(body, "attacker"))
    assert setup.status_code == 200 and setup.headers["x-hook-secret"] == "provider-issued"
    assert setup.json() == {"ok": True, "shop": "s1"}
    assert forged.status_code == 200 and forged.json() == {"ok": True, "shop": ""}  # the configured body
    assert "x-hook-secret" in forged.headers
    # Nobody asked for a secret here (the router creates no subscription for this definition): none is armed.
    assert (after.status_code, after.json()) == (401, {"error": "missing_secret"})
    assert (attacker.status_code, attacker.json()) == (401, {"error": "missing_secret"})
    stored = await registry.get("custom_webhook", "cw-1")
    assert isinstance(stored, CustomWebhook) and stored.secrets == []
    assert await redis.exists(KEYS.ingest) == 0  # setup requests store no event
    captures, _ = await Diagnostics(redis, KEYS, registry.box).captures("cw-1")
    assert [(c["purpose"], c["value"], c["activated"]) for c in captures] == [
        ("secret", "provider-issued", False),
        ("token", "vt-1", False),
        ("secret", "attacker", False),
    ]


@pytest.mark.parametrize(
    ("headers", "content_type"),
    [
        ({}, "text/plain; charset=utf-8"),
        ({"Content-Type": "{{ $.query.ct }}"}, "text/plain; charset=utf-8"),  # the sender may not pick it
        ({"content-type": "application/json"}, "application/json"),  # a literal the operator chose is kept
    ],
)
async def test_a_reflected_response_is_never_a_page(
    settings: Settings, seed: Seed, headers: dict[str, str], content_type: str
) -> None:
    response = {"status": 200, "headers": headers, "body": "{{$.query.shop}}", "setup_when": "$.query.shop"}
    await seed_crm(seed, custom=definition(response=response), teams={"u1": "T1"})
    payload = "<script>alert(document.domain)</script>"
    async with running(settings) as http:
        answered = await http.post(url("cw-1", shop=payload, ct="text/html"))
    assert answered.status_code == 200 and answered.text == payload  # what the operator configured, verbatim
    assert answered.headers["content-type"] == content_type
    assert answered.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in answered.headers["content-security-policy"]


async def test_a_handshake_never_replaces_the_secret_a_definition_borrows_from_its_integration(
    settings: Settings, seed: Seed, registry: Registry
) -> None:
    """A catalog scheme's definition signs with its integration's secret: an unauthenticated X-Hook-Secret must
    not become the only active secret there (events signed with it accepted, the real ones refused)."""
    await seed(
        integration=[{"id": "tasks", "type": "asana", "secrets": ["integration-secret"]}],
        user=[{"id": "u1"}],
        credential=[{"id": "cred-u1", "user": "u1", "integration": "tasks", "provider_id": "T1"}],
        custom_webhook=[{"id": "cw-a", "integration": "tasks", "level": "user", "verification": {"provider": "asana"}}],
        workflow=[{"id": "wf-a", "integration": "tasks", "trigger_type": "custom", "trigger": "cw-a"}],
        activate=[("wf-a", "u1")],
    )
    body = b'{"events": [{"action": "added"}]}'
    target = url("cw-a", id="cred-u1")
    async with running(settings) as http:
        shaken = await http.post(target, headers={"x-hook-secret": "attacker"})
        await receiver_caught_up(http, seed)  # had the handshake written a secret, the receiver would use it now
        forged = await http.post(target, content=body, headers=test_asana.sign(body, secret="attacker"))
        genuine = await http.post(target, content=body, headers=test_asana.sign(body, secret="integration-secret"))
    assert shaken.status_code == 200
    assert (forged.status_code, genuine.status_code) == (401, 200)
    stored = await registry.get("custom_webhook", "cw-a")
    assert isinstance(stored, CustomWebhook) and stored.secrets == []


async def seed_resource(seed: Seed, *, level: str = "user", workflows: int = 3) -> None:
    custom = {
        "id": "res-trigger",
        "api_resource": "tasklab",
        "level": level,
        "verification": {"none": True},
        "event_type": "$.body.type",
        **({"routing": "$.body.account"} if level == "app" else {}),
    }
    wfs = [f"rw-{n}" for n in range(workflows)]
    await seed(
        api_resource=[{"id": "tasklab", "name": "TaskLab", "level": "user"}],
        user=[{"id": "u1"}, {"id": "u2"}],
        resource_connection=[
            {"id": "conn-u1", "user": "u1", "api_resource": "tasklab", "provider_id": "acct-1", "values": {"k": "v"}},
            {"id": "conn-u2", "user": "u2", "api_resource": "tasklab", "provider_id": "acct-2"},
        ],
        custom_webhook=[custom],
        workflow=[{"id": w, "integration": "tasklab", "trigger_type": "custom", "trigger": "res-trigger"} for w in wfs]
        + [{"id": "other", "integration": "tasklab", "trigger_type": "custom", "trigger": "elsewhere"}],
        activate=[(w, u) for w in wfs for u in ("u1", "u2")] + [("other", "u1")],
    )


async def test_api_resource_event_fires_every_workflow_on_that_trigger_for_the_connected_user(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_resource(seed)
    await seed(activation=[{"id": "rw-2:u1", "workflow": "rw-2", "user": "u1", "enabled": False}])
    async with running(settings) as http:
        response = await http.post(url("res-trigger", id="conn-u1"), json={"type": "task.created"})
        unknown = await http.post(url("res-trigger", id="conn-nope"), json={})
    assert response.status_code == 200 and unknown.status_code == 404
    [event_id] = response.json()["ids"]
    await make_worker(redis, registry).run_once()
    fired = {wf: await jobs(redis, wf) for wf in ("rw-0", "rw-1", "rw-2", "other")}
    assert [len(fired[w]) for w in ("rw-0", "rw-1", "rw-2", "other")] == [1, 1, 0, 0]
    for [job] in (fired["rw-0"], fired["rw-1"]):
        assert job[b"user"] == b"u1" and job[b"connection"] == b"conn-u1" and job[b"credential"] == b""
        assert job[b"event_type"] == b"task.created"
    result = await outcome(redis, event_id)
    assert result["status"] == "matched" and result["skipped"] == {"workflow_not_activated": 1}


async def test_app_level_api_resource_matches_the_connection_provider_id(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_resource(seed, level="app", workflows=1)
    await seed(user=[{"id": "u2", "disabled": True}])
    async with running(settings) as http:
        first = await http.post(url("res-trigger"), json={"account": "acct-1"})
        second = await http.post(url("res-trigger"), json={"account": "acct-2"})
    await make_worker(redis, registry).run_once()
    [job] = await jobs(redis, "rw-0")
    assert job[b"user"] == b"u1"
    assert (await outcome(redis, first.json()["ids"][0]))["status"] == "matched"
    assert (await outcome(redis, second.json()["ids"][0]))["skipped"] == {"user_disabled": 1}


BASE = """
project: {id: p1}
integrations:
  - {id: crm, type: github}
api_resources:
  - {id: tasklab, name: TaskLab}
users:
  - {id: u1}
resource_connections:
  - {id: conn-1, user: u1, api_resource: tasklab, values: {api_key: k}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(BASE + text)
    return path


def test_a_valid_config_applies_definitions_resources_and_custom_workflows(tmp_path: Path) -> None:
    records = load(
        write(
            tmp_path,
            "custom_webhooks:\n"
            "  - {id: cw, integration: crm, routing: \"$.headers['x-shop']\", verification: {none: true},\n"
            "     response: {status: 202, persist: {secret: '$.body.secret'}}}\n"
            "  - {id: rt, api_resource: tasklab, level: user, verification: {hmac: {algorithm: sha256,"
            " encoding: hex, signature_header: X-Sig}}}\n"
            "workflows:\n"
            "  - {id: w1, integration: crm, trigger_type: custom, trigger: cw, activations: [u1]}\n"
            "  - {id: w2, integration: tasklab, trigger_type: custom, trigger: rt, activations: [u1]}\n",
        )
    )
    kinds = sorted(type(r).__name__ for r in records)
    assert kinds.count("CustomWebhook") == 2 and "ApiResource" in kinds and "ResourceConnection" in kinds


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("custom_webhooks:\n  - {id: cw, integration: crm, verification: {none: true}}\n", "needs routing"),
        (
            "custom_webhooks:\n  - {id: cw, integration: crm, level: user, routing: $.query.id,"
            " verification: {none: true}}\n",
            "remove routing",
        ),
        ("custom_webhooks:\n  - {id: cw, integration: crm, routing: $.body.a}\n", "verification: Field required"),
        (
            "custom_webhooks:\n  - {id: cw, integration: crm, routing: $.body.a, verification: {}}\n",
            "exactly one of provider, hmac, entry_point or none: true",
        ),
        (
            "custom_webhooks:\n  - {id: cw, integration: crm, routing: $.body.a,"
            " verification: {none: true, provider: slack}}\n",
            "(got provider, none)",
        ),
        (
            "custom_webhooks:\n  - {id: cw, integration: crm, routing: '$.body[', verification: {none: true}}\n",
            "invalid path '$.body[' at position 7",
        ),
        (
            "custom_webhooks:\n  - {id: cw, integration: crm, routing: $.body.a, verification: {provider: nope}}\n",
            "unknown provider 'nope'",
        ),
        (
            "custom_webhooks:\n  - {id: cw, integration: crm, routing: $.body.a,"
            " verification: {hmac: {algorithm: md5}}}\n",
            "invalid HMAC spec",
        ),
        (
            "custom_webhooks:\n  - {id: cw, integration: crm, routing: $.body.a,"
            " verification: {entry_point: 'no_such_module_xyz:verify'}}\n",
            "cannot be loaded",
        ),
        (
            "custom_webhooks:\n  - {id: cw, integration: crm, api_resource: tasklab, routing: $.body.a,"
            " verification: {none: true}}\n",
            "exactly one of integration or api_resource",
        ),
        (
            "custom_webhooks:\n  - {id: cw, integration: ghost, routing: $.body.a, verification: {none: true}}\n",
            "custom_webhook 'cw': integration 'ghost' is not defined",
        ),
        (
            "custom_webhooks:\n  - {id: cw, integration: crm, routing: $.body.a, verification: {none: true},"
            " response: {body: '{{ $.nope }}'}}\n",
            "unknown root 'nope'",
        ),
        (
            "custom_webhooks:\n  - {id: cw, integration: crm, routing: $.body.a, verification: {none: true},"
            " response: {status: 99}}\n",
            "response.status",
        ),
        (
            "custom_webhooks:\n  - {id: cw, integration: crm, routing: $.body.a, verification: {none: true},"
            " response: {headers: {'Bad Header': x}}}\n",
            "invalid response header name",
        ),
        (
            "workflows:\n  - {id: w1, integration: crm, trigger_type: custom, trigger: missing}\n",
            "custom trigger 'missing' is not a custom_webhook in this file",
        ),
        (
            "custom_webhooks:\n  - {id: cw, integration: crm, routing: $.body.a, verification: {none: true}}\n"
            "workflows:\n  - {id: w1, integration: tasklab, trigger_type: custom, trigger: cw}\n",
            "belongs to 'crm', not to the workflow's integration 'tasklab'",
        ),
        ("resource_connections:\n  - {id: c2, user: u1, api_resource: nope}\n", "api_resource 'nope' is not defined"),
    ],
)
def test_invalid_definitions_are_rejected_at_apply(tmp_path: Path, yaml_text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, yaml_text))
    assert message in str(info.value)


async def test_unknown_definition_and_methods(settings: Settings, seed: Seed) -> None:
    await seed_crm(seed, custom=definition(), teams={"u1": "T1"})
    async with running(settings) as http:
        unknown = await http.post(url("nope"), content=b"{}")
        get = await http.get(url("cw-1"))
        large = await http.post(url("cw-1"), content=b"x" * (settings.max_body_bytes + 1))
    assert (unknown.status_code, unknown.json()) == (404, {"error": "unknown_definition"})
    assert get.status_code == 405 and large.status_code == 413


async def test_entry_point_verifier(settings: Settings, seed: Seed, monkeypatch: pytest.MonkeyPatch) -> None:
    custom = definition(verification={"entry_point": "tests.router.test_custom_webhooks:token_check"})
    await seed_crm(seed, custom=custom, teams={"u1": "T1"})
    broken = definition(id="cw-2", verification={"entry_point": "no_such_module_xyz:verify"})
    await seed(custom_webhook=[broken])
    async with running(settings) as http:
        ok = await http.post(url("cw-1"), content=b"{}", headers={"x-token": HOOK_SECRET})
        rejected = await http.post(url("cw-1"), content=b"{}", headers={"x-token": "wrong"})
        unavailable = await http.post(url("cw-2"), content=b"{}")
    assert ok.status_code == 200 and rejected.status_code == 401
    assert unavailable.status_code == 503 and unavailable.json() == {"error": "verifier_unavailable"}


def token_check(*, secrets: Any, headers: Any, body: bytes, method: str, url: str, now: float) -> bool:
    return headers.get("x-token") in secrets


BODIES = st.binary(max_size=200) | st.sampled_from(
    [b"[" * 5000, b'{"team": {"id": 1e999}}', b"\xff\xfe", b'{"team": {"id": "\\ud800"}}']
)
TEXTS = st.text(max_size=30)
HEADER_VALUES = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
CONTENT_TYPES = st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain", ""])


@hyp_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_hostile_input_never_500(settings: Settings, seed: Seed, data: st.DataObject) -> None:
    response_spec = {
        "headers": {"X-Echo": "{{$.headers['x-hook-secret']}}{{$.body.team.id}}"},
        "body": "{{$.query.id}}{{$.body.team}}",
        "persist": {"token": "$.headers['x-hook-secret']"},
    }
    await seed_crm(seed, custom=definition(verification={"none": True}, response=response_spec), teams={"u1": "T1"})
    async with running(settings) as http:
        for _ in range(3):
            value = data.draw(HEADER_VALUES)
            headers = {"content-type": data.draw(CONTENT_TYPES), "x-event": value}
            if data.draw(st.booleans()):
                headers["x-hook-secret"] = value
            response = await http.post(
                url("cw-1"), params={"id": data.draw(TEXTS)}, content=data.draw(BODIES), headers=headers
            )
            assert response.status_code < 500, response.text


async def test_hostile_input_with_hmac_never_500(settings: Settings, seed: Seed) -> None:
    await seed_crm(seed, custom=definition(level="user", routing=None), teams={"u1": "T1"})
    cases: list[tuple[str, bytes, dict[str, str]]] = [
        (url("cw-1", id="cred-u1"), b"\xff" * 10, {"x-sig": "sha256=zz", "x-ts": "nan"}),
        (url("cw-1", id="cred-u1"), b"{}", {"x-sig": "", "x-ts": "9" * 400}),
        (url("cw-1", id="%00"), b"{}", {}),
        (url("cw-1", id="cred-u1"), b"[" * 100_000, hmac_headers(b"[" * 100_000)),
    ]
    async with running(settings) as http:
        for target, body, headers in cases:
            response: httpx.Response = await http.post(target, content=body, headers=headers)
            assert response.status_code < 500, (target, response.status_code)


async def test_unencodable_json_strings_are_stored_not_500(settings: Settings, seed: Seed, redis: Redis) -> None:
    custom = definition(
        event_type="$.body.type", response={"body": "{{$.body.type}}", "headers": {"X-T": "{{$.body.type}}"}}
    )
    await seed_crm(seed, custom=custom, teams={"u1": "T1"})
    body = b'{"team": {"id": "T\\ud800"}, "type": "\\udfff"}'
    async with running(settings) as http:
        response = await http.post(url("cw-1"), content=body, headers=hmac_headers(body))
    assert response.status_code == 200 and response.text == "?"
    [(_, stored)] = await xrange_all(redis, KEYS.ingest)
    assert stored[b"provider_id"] == b"T?" and stored[b"event_type"] == b"?"


def url_signing_definition(verification: str) -> str:
    return f"custom_webhooks:\n  - {{id: cw-url, api_resource: tasklab, level: user, verification: {verification}}}\n"


@pytest.mark.parametrize(
    ("verification", "signs_no_host"),
    [
        ("{provider: twilio}", "{provider: github}"),
        (
            "{hmac: {algorithm: sha256, encoding: hex, signature_header: X-Sig, signed_content: '{url}{body}'}}",
            "{hmac: {algorithm: sha256, encoding: hex, signature_header: X-Sig, signed_content: '{body}'}}",
        ),
    ],
)
def test_a_definition_that_signs_the_url_needs_a_public_url(
    tmp_path: Path, verification: str, signs_no_host: str
) -> None:
    path = write(tmp_path, url_signing_definition(verification))
    with pytest.raises(ConfigError, match="custom webhook 'cw-url': its verification signs the URL"):
        load(path)
    load(path, public_url="https://hooks.example.com")
    load(write(tmp_path, url_signing_definition(signs_no_host)))
