"""The SDK's user-state endpoints end to end: HTTP in with a user token, the registry in a real Redis, and routing
honouring what was written. Request bodies are the platform documentation's examples (§2.4, §3.1, §3.2)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError
from redis.asyncio import Redis

from router.settings import Settings
from subscriptions.config import apply, preview
from subscriptions.custom import ResourceConnection
from subscriptions.models import ConnectedUser, Credential, Integration, Project
from subscriptions.registry import Registry
from tests.router.conftest import (
    SLACK_SECRET,
    TEAM,
    Seed,
    make_registry,
    make_seed,
    make_settings,
    make_worker,
    running,
)
from tests.router.sdk_support import PROJECT, bearer, keypair, seed_project
from tests.router.test_faults import RedisProcess
from tests.router.test_faults import own_redis as own_redis  # the fixture
from tests.router.test_ingest import jobs, outcome, post_slack, slack_event

pytestmark = pytest.mark.anyio

BASE = f"/projects/{PROJECT}/sdk"
PRO_ONLY = [{"field": "plan", "operator": "equals", "value": "pro"}]


def disabled(workflow: str) -> dict[str, Any]:
    """The documented PATCH body (L1470–1489), with ``workflow`` switched off."""
    return {"config": {"configuredWorkflows": {workflow: {"enabled": False, "settings": {}}}, "sharedSettings": {}}}


async def seed_accounts(registry: Registry, seed: Seed, *, workflow: dict[str, Any] | None = None) -> None:
    """u1 has two Slack accounts on TEAM (cred-a, cred-b); u2 one (cred-u2); wf-1 is active for both users."""
    await seed_project(registry)
    await seed(
        integration=[{"id": "slack-app", "type": "slack", "secrets": [SLACK_SECRET]}],
        user=[{"id": "u1", "metadata": {"plan": "free", "Name": "One"}}, {"id": "u2"}],
        credential=[
            {"id": "cred-a", "user": "u1", "integration": "slack-app", "provider_id": TEAM},
            {"id": "cred-b", "user": "u1", "integration": "slack-app", "provider_id": TEAM},
            {"id": "cred-u2", "user": "u2", "integration": "slack-app", "provider_id": TEAM},
        ],
        workflow=[{"id": "wf-1", "integration": "slack-app", "trigger": "*", **(workflow or {})}],
        activate=[("wf-1", "u1"), ("wf-1", "u2")],
    )


async def route_webhook(http: httpx.AsyncClient, redis: Redis, registry: Registry, n: int) -> dict[str, object]:
    """Post one signed Slack event for TEAM and route it: its routing outcome."""
    response = await post_slack(http, slack_event(event_id=f"Ev{n}"))
    assert response.status_code == 200
    assert await make_worker(redis, registry).run_once() == 1
    return await outcome(redis, response.json()["ids"][0])


def credentials_of(jobs_: list[dict[bytes, bytes]]) -> list[str]:
    return sorted(j[b"credential"].decode() for j in jobs_)


async def test_a_workflow_switched_off_for_one_account_stops_for_it_while_the_users_other_account_still_runs(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_accounts(registry, seed)
    async with running(settings) as http:
        patched = await http.patch(f"{BASE}/credentials/cred-a", json=disabled("wf-1"), headers=bearer("u1"))
        assert patched.status_code == 200, patched.text
        assert patched.json()["config"] == disabled("wf-1")["config"]
        result = await route_webhook(http, redis, registry, 1)
        assert credentials_of(await jobs(redis)) == ["cred-b", "cred-u2"]
        assert result["skipped"] == {"workflow_not_activated": 1}

        # The next GET shows it (the write refreshed this process's snapshot before answering).
        shown = await http.get(f"{BASE}/credentials/cred-a", headers=bearer("u1"))
        assert shown.status_code == 200
        assert shown.json()["config"]["configuredWorkflows"] == {"wf-1": {"enabled": False, "settings": {}}}

        # Replacement, as documented (L1466): a config without configuredWorkflows has none left, so the
        # account falls back to the user's activation and runs again.
        replaced = await http.patch(
            f"{BASE}/credentials/cred-a", json={"config": {"sharedSettings": {"channel": "#ops"}}}, headers=bearer("u1")
        )
        assert replaced.json()["config"] == {"configuredWorkflows": {}, "sharedSettings": {"channel": "#ops"}}
        await route_webhook(http, redis, registry, 2)
    assert credentials_of((await jobs(redis))[2:]) == ["cred-a", "cred-b", "cred-u2"]
    stored = await registry.get("credential", "cred-a")
    assert isinstance(stored, Credential) and stored.config.shared_settings == {"channel": "#ops"}


async def test_a_workflow_enabled_on_an_account_runs_without_an_activation_and_keeps_its_settings(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_accounts(registry, seed)
    await seed(workflow=[{"id": "wf-2", "integration": "slack-app", "trigger": "*"}])  # activated for nobody
    body = {"config": {"configuredWorkflows": {"wf-2": {"enabled": True, "settings": {"example-input-id": "v"}}}}}
    async with running(settings) as http:
        patched = await http.patch(f"{BASE}/credentials/cred-b", json=body, headers=bearer("u1"))
        assert patched.status_code == 200
        await route_webhook(http, redis, registry, 1)
        me = (await http.get(f"{BASE}/me", headers=bearer("u1"))).json()
    assert credentials_of(await jobs(redis, "wf-2")) == ["cred-b"]
    [a, b] = me["integrations"]["slack"]["allCredentials"]
    assert (a["id"], b["id"]) == ("cred-a", "cred-b")
    assert b["config"]["configuredWorkflows"]["wf-2"] == {"enabled": True, "settings": {"example-input-id": "v"}}


async def test_disconnecting_stops_routing_to_the_account_and_clears_its_settings(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_accounts(registry, seed)
    async with running(settings) as http:
        await http.patch(f"{BASE}/credentials/cred-a", json=disabled("wf-1"), headers=bearer("u1"))
        one = await http.delete(
            f"{BASE}/integrations/slack-app", headers={**bearer("u1"), "x-paragon-credential": "cred-a"}
        )
        assert one.status_code == 204
        listed = (await http.get(f"{BASE}/credentials", headers=bearer("u1"))).json()
        assert [c["id"] for c in listed] == ["cred-b"]
        await route_webhook(http, redis, registry, 1)
        assert credentials_of(await jobs(redis)) == ["cred-b", "cred-u2"]

        # Without a credential named, every account of the integration goes (by type, as the SDK names it).
        every = await http.delete(f"{BASE}/integrations/slack", headers=bearer("u1"))
        assert every.status_code == 204
        await route_webhook(http, redis, registry, 2)
        again = await http.delete(f"{BASE}/integrations/slack-app", headers=bearer("u1"))
        gone = await http.get(f"{BASE}/credentials/cred-a", headers=bearer("u1"))
        me = (await http.get(f"{BASE}/me", headers=bearer("u1"))).json()
    assert credentials_of((await jobs(redis))[2:]) == ["cred-u2"]
    assert await registry.get("credential", "cred-a") is None and await registry.get("credential", "cred-b") is None
    assert await registry.get("credential", "cred-u2") is not None  # another user's account is not touched
    assert again.status_code == 404 and again.json()["error"] == "not_connected"
    assert again.headers["content-type"] == "application/problem+json"
    assert gone.status_code == 404 and gone.json()["error"] == "unknown_credential"
    assert me["integrations"]["slack"] == {"configuredWorkflows": {}, "enabled": False}


async def test_a_new_users_first_token_creates_it_app_events_answer_201_and_sdk_me_shows_it(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_accounts(registry, seed)
    async with running(settings) as http:
        event = await http.post(
            f"{BASE}/events/trigger",
            json={"name": "Contact Created", "payload": {"name": "Brandon", "email": "b@useparagon.com"}},
            headers=bearer("newbie"),
        )
        me = await http.get(f"{BASE}/me", headers=bearer("newbie"))
    assert event.status_code == 201
    assert me.status_code == 200
    assert me.json() == {
        "authenticated": True,
        "userId": "newbie",
        "integrations": {"slack": {"configuredWorkflows": {}, "enabled": False}},
        "meta": {},
    }
    user = await registry.get("user", "newbie")
    assert isinstance(user, ConnectedUser) and user.project == PROJECT and user.metadata == {}


async def test_sdk_me_shows_the_users_accounts_in_the_documented_shape(
    settings: Settings, seed: Seed, registry: Registry
) -> None:
    await seed_accounts(registry, seed)
    async with running(settings) as http:
        me = (await http.get(f"{BASE}/me", headers=bearer("u1"))).json()
    slack = me["integrations"]["slack"]
    assert me["authenticated"] is True and me["userId"] == "u1" and me["meta"] == {"plan": "free", "Name": "One"}
    assert slack["enabled"] is True and slack["credentialId"] == "cred-a" and slack["credentialStatus"] == "VALID"
    assert slack["providerId"] == TEAM and slack["configuredWorkflows"] == {}
    assert [c["id"] for c in slack["allCredentials"]] == ["cred-a", "cred-b"]
    first = slack["allCredentials"][0]
    assert first["projectId"] == PROJECT and first["integrationId"] == "slack-app" and first["personaId"] == "u1"
    assert first["isPreviewCredential"] is False and first["status"] == "VALID" and "values" not in first


async def test_patching_the_users_metadata_moves_workflow_permissions(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_accounts(registry, seed, workflow={"permissions": PRO_ONLY})
    async with running(settings) as http:
        await route_webhook(http, redis, registry, 1)
        assert await jobs(redis) == []  # nobody is on the pro plan
        # The documented body (L2435), as documented: without "Bearer" (L2431).
        token = bearer("u1")["authorization"].removeprefix("Bearer ")
        patched = await http.patch(
            f"{BASE}/me",
            json={"meta": {"Email": "sean@useparagon.com", "plan": "pro"}},
            headers={"authorization": token},
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["meta"] == {"plan": "pro", "Name": "One", "Email": "sean@useparagon.com"}
        await route_webhook(http, redis, registry, 2)
        assert credentials_of(await jobs(redis)) == ["cred-a", "cred-b"]
        # null removes a member: the permission no longer holds.
        removed = await http.patch(f"{BASE}/me", json={"meta": {"plan": None}}, headers=bearer("u1"))
        assert removed.json()["meta"] == {"Name": "One", "Email": "sean@useparagon.com"}
        await route_webhook(http, redis, registry, 3)
    assert len(await jobs(redis)) == 2


async def test_another_projects_users_and_accounts_are_out_of_reach(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_accounts(registry, seed)
    await apply(
        registry,
        [Project(id="p2", user_token_public_keys=[keypair(1)[1]]), ConnectedUser(id="u9", project="p2")],
    )
    async with running(settings) as http:
        foreign_key = await http.get(f"{BASE}/me", headers=bearer("u9", key=1))  # p2's token on p1
        foreign_user = await http.get(f"{BASE}/me", headers=bearer("u9"))  # signed by p1, naming p2's user
        others = await http.get(f"{BASE}/credentials/cred-u2", headers=bearer("u1"))
        patch_others = await http.patch(f"{BASE}/credentials/cred-u2", json=disabled("wf-1"), headers=bearer("u1"))
        own_in_p2 = await http.get("/projects/p2/sdk/credentials", headers=bearer("u9", key=1))
    assert (foreign_key.status_code, foreign_key.json()["error"]) == (401, "invalid_signature")
    assert (foreign_user.status_code, foreign_user.json()["error"]) == (401, "unknown_user")
    assert others.status_code == 404 and others.json()["error"] == "unknown_credential"
    assert patch_others.status_code == 404
    assert own_in_p2.status_code == 200 and own_in_p2.json() == []
    stored = await registry.get("credential", "cred-u2")
    assert isinstance(stored, Credential) and stored.config.configured_workflows == {}
    u9 = await registry.get("user", "u9")
    assert isinstance(u9, ConnectedUser) and u9.project == "p2"  # not taken over by p1


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"config": {"configuredWorkflows": {"wf-nope": {"enabled": True}}}}, "config.configuredWorkflows.wf-nope"),
        ({"config": {"configuredWorkflows": {"wf-1": {"settings": {}}}}}, "config.configuredWorkflows.wf-1"),
        ({"config": {"configuredWorkflows": {"wf-1": {"enabled": "yes"}}}}, "config.configuredWorkflows.wf-1"),
        ({"config": {"configuredWorkflows": []}}, "config.configuredWorkflows"),
        ({"config": {"sharedSettings": "x"}}, "config.sharedSettings"),
        ({"config": {"other": {}}}, "config: unknown member"),
        ({"configuredWorkflows": {}}, "body: unknown member"),
        ({}, "body: must be"),
        ([], "body: must be a JSON object"),
    ],
)
async def test_a_bad_config_is_refused_naming_the_member_and_nothing_is_written(
    settings: Settings, seed: Seed, registry: Registry, body: Any, problem: str
) -> None:
    await seed_accounts(registry, seed)
    version = await registry.version()
    async with running(settings) as http:
        response = await http.patch(f"{BASE}/credentials/cred-a", json=body, headers=bearer("u1"))
    assert response.status_code == 400
    doc = response.json()
    assert doc["error"] == "invalid_body" and doc["status"] == 400
    assert any(p.startswith(problem) for p in doc["problems"]), doc
    assert await registry.version() == version


CONFIGURED = {"config": {"configuredWorkflows": {"wf-2": {"enabled": True, "settings": {"k": "v"}}}}}


@pytest.fixture
async def user_state_client(settings: Settings, seed: Seed, registry: Registry) -> AsyncIterator[httpx.AsyncClient]:
    await seed_accounts(registry, seed)
    await seed(workflow=[{"id": "wf-2", "integration": "slack-app", "trigger": "*"}])
    async with running(settings) as http:
        ok = await http.patch(f"{BASE}/credentials/cred-a", json=CONFIGURED, headers=bearer("u1"))
        assert ok.status_code == 200
        yield http


SCALAR = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
NESTED = SCALAR | st.lists(SCALAR, max_size=3) | st.dictionaries(st.text(max_size=8), SCALAR, max_size=3)
JSON = NESTED | st.lists(NESTED, max_size=3) | st.dictionaries(st.text(max_size=8), NESTED, max_size=3)
HOSTILE = st.one_of(
    st.binary(max_size=256),
    st.builds(lambda d: json.dumps(d).encode(), JSON),
    st.builds(lambda d: json.dumps({"config": d}).encode(), JSON),
    st.builds(
        lambda w, e: json.dumps({"config": {"configuredWorkflows": {w: e}}}).encode(),
        st.sampled_from(["wf-1", "wf-2", "", "x" * 200, "wf-1\x00"]),
        JSON,
    ),
    st.builds(lambda d: json.dumps({"meta": d}).encode(), JSON),
    st.just(b'{"config": {"sharedSettings": {"n": NaN}}}'),
    st.just(b"[" * 5000),
)


@given(path=st.sampled_from([f"{BASE}/credentials/cred-a", f"{BASE}/me"]), body=HOSTILE)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_hostile_patch_bodies_get_a_clear_400_and_lose_nothing_accepted(
    user_state_client: httpx.AsyncClient, path: str, body: bytes
) -> None:
    http = user_state_client
    response = await http.patch(path, content=body, headers={**bearer("u1"), "content-type": "application/json"})
    assert response.status_code in (200, 400), (response.status_code, response.text)
    if response.status_code == 400:
        doc = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert doc["error"] in {"invalid_json", "invalid_body"} and doc["detail"]
    account = (await http.get(f"{BASE}/credentials/cred-a", headers=bearer("u1"))).json()
    if path.endswith("/me") or response.status_code == 400:
        # What the fixture's PATCH configured is still there: a refused body changed nothing.
        assert account["config"]["configuredWorkflows"] == {"wf-2": {"enabled": True, "settings": {"k": "v"}}}
    else:
        sent = json.loads(body)["config"].get("configuredWorkflows", {})
        expected = {w: {"enabled": e["enabled"], "settings": e.get("settings", {})} for w, e in sent.items()}
        assert account["config"]["configuredWorkflows"] == expected
        restored = await http.patch(f"{BASE}/credentials/cred-a", json=CONFIGURED, headers=bearer("u1"))
        assert restored.status_code == 200


async def test_connecting_to_an_api_resource_keeps_the_users_credentials_sealed_and_replaces_them_on_reconnect(
    settings: Settings, seed: Seed, registry: Registry
) -> None:
    await seed_accounts(registry, seed)
    await seed(api_resource=[{"id": "tasklab", "level": "user"}, {"id": "shared", "level": "app"}])
    url = f"{BASE}/resources/tasklab/connect"
    async with running(settings) as http:
        # The documented body (L7788–7808).
        first = await http.post(url, json={"access_token": "at-1", "refresh_token": "rt-1"}, headers=bearer("u1"))
        again = await http.post(url, json={"access_token": "at-2"}, headers=bearer("u1"))
        app_level = await http.post(f"{BASE}/resources/shared/connect", json={"k": "v"}, headers=bearer("u1"))
        unknown = await http.post(f"{BASE}/resources/nope/connect", json={"k": "v"}, headers=bearer("u1"))
        not_text = await http.post(url, json={"access_token": 5}, headers=bearer("u2"))
    assert first.status_code == 201 and first.json() == {"id": "tasklab:u1", "resourceId": "tasklab", "userId": "u1"}
    assert "at-1" not in first.text
    assert again.status_code == 200
    assert (app_level.status_code, app_level.json()["error"]) == (409, "app_level_resource")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_resource")
    assert (not_text.status_code, not_text.json()["error"]) == (400, "invalid_body")
    stored = await registry.get("resource_connection", "tasklab:u1")
    assert isinstance(stored, ResourceConnection) and stored.user == "u1" and stored.api_resource == "tasklab"
    assert {k: v.get_secret_value() for k, v in stored.values.items()} == {"access_token": "at-2"}
    assert await registry.get("resource_connection", "tasklab:u2") is None


async def test_enabling_and_disabling_a_workflow_for_the_user_sets_it_on_their_accounts(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_accounts(registry, seed)
    await seed(workflow=[{"id": "wf-2", "integration": "slack-app", "trigger": "*"}])  # activated for nobody
    path = f"{BASE}/workflows/wf-2"
    async with running(settings) as http:
        settings_kept = {"config": {"configuredWorkflows": {"wf-2": {"enabled": False, "settings": {"k": "v"}}}}}
        await http.patch(f"{BASE}/credentials/cred-b", json=settings_kept, headers=bearer("u1"))
        enabled = await http.post(path, headers=bearer("u1"))
        await route_webhook(http, redis, registry, 1)
        disabled_one = await http.delete(path, headers={**bearer("u1"), "x-paragon-credential": "cred-a"})
        await route_webhook(http, redis, registry, 2)
        unknown = await http.post(f"{BASE}/workflows/nope", headers=bearer("u1"))
        newbie = await http.post(path, headers=bearer("newbie"))
    assert enabled.status_code == 200
    assert [(c["id"], c["config"]["configuredWorkflows"]["wf-2"]) for c in enabled.json()] == [
        ("cred-a", {"enabled": True, "settings": {}}),
        ("cred-b", {"enabled": True, "settings": {"k": "v"}}),
    ]
    assert [c["id"] for c in disabled_one.json()] == ["cred-a"]
    assert credentials_of(await jobs(redis, "wf-2")) == ["cred-a", "cred-b", "cred-b"]
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_workflow")
    assert (newbie.status_code, newbie.json()["error"]) == (404, "not_connected")


async def test_an_apply_that_does_not_mention_an_accounts_config_keeps_what_the_user_configured(
    settings: Settings, seed: Seed, registry: Registry
) -> None:
    await seed_accounts(registry, seed)
    async with running(settings) as http:
        await http.patch(f"{BASE}/credentials/cred-a", json=disabled("wf-1"), headers=bearer("u1"))
    # The operator's file lists the account as it always did, without config.
    await apply(
        registry, [Credential(id="cred-a", project=PROJECT, user="u1", integration="slack-app", provider_id="X")]
    )
    stored = await registry.get("credential", "cred-a")
    assert isinstance(stored, Credential) and stored.provider_id == "X"
    assert stored.config.configured_workflows["wf-1"].enabled is False


async def test_an_apply_that_lists_the_user_without_metadata_keeps_what_patch_me_set_and_metadata_empty_clears_it(
    settings: Settings, seed: Seed, registry: Registry
) -> None:
    await seed_accounts(registry, seed)
    async with running(settings) as http:
        patched = await http.patch(f"{BASE}/me", json={"meta": {"plan": "pro"}}, headers=bearer("u1"))
        assert patched.status_code == 200
    # The operator's file lists u1 as it always did, without metadata: the plan says it keeps it.
    project = await registry.get("project", PROJECT)
    assert project is not None
    listed = [project, ConnectedUser(id="u1", project=PROJECT)]
    [change] = [c for c in (await preview(registry, listed)).changes if c.kind == "user"]
    assert (change.label, change.fields) == ("unchanged (keeps: metadata)", ())
    await apply(registry, listed)
    kept = await registry.get("user", "u1")
    assert isinstance(kept, ConnectedUser) and kept.metadata == {"plan": "pro", "Name": "One"}
    # Naming metadata replaces it; an explicit empty object clears it, and the plan says it changes.
    cleared = [listed[0], ConnectedUser(id="u1", project=PROJECT, metadata={})]
    [change] = [c for c in (await preview(registry, cleared)).changes if c.kind == "user"]
    assert (change.label, change.fields) == ("updated", ("metadata",))
    await apply(registry, cleared)
    gone = await registry.get("user", "u1")
    assert isinstance(gone, ConnectedUser) and gone.metadata == {}


async def test_prune_spares_the_users_the_sdk_created_unless_asked(
    settings: Settings, seed: Seed, registry: Registry
) -> None:
    await seed_accounts(registry, seed)
    async with running(settings) as http:
        created = await http.patch(f"{BASE}/me", json={"meta": {"Name": "New"}}, headers=bearer("newbie"))
        assert created.status_code == 200
    newbie = await registry.get("user", "newbie")
    assert isinstance(newbie, ConnectedUser) and newbie.origin == "sdk"
    await seed(credential=[{"id": "cred-new", "user": "newbie", "integration": "slack-app", "provider_id": TEAM}])
    # A file naming the project and the Slack app only: u1, u2 and their accounts go; newbie and its account stay.
    project = await registry.get("project", PROJECT)
    assert project is not None
    file = [
        project,
        Integration(id="slack-app", project=PROJECT, type="slack", secrets=[SecretStr(SLACK_SECRET)]),
    ]
    deleted = {(c.kind, c.id) for c in await apply(registry, file, prune=True) if c.action == "deleted"}
    assert {("user", "u1"), ("user", "u2"), ("credential", "cred-a")} <= deleted
    assert not {("user", "newbie"), ("credential", "cred-new")} & deleted
    assert await registry.get("user", "newbie") == newbie and await registry.get("credential", "cred-new")
    deleted = {
        (c.kind, c.id) for c in await apply(registry, file, prune=True, prune_sdk_users=True) if c.action == "deleted"
    }
    assert deleted == {("user", "newbie"), ("credential", "cred-new")}
    assert await registry.get("user", "newbie") is None


async def test_a_frozen_redis_answers_503_within_the_deadline_and_the_accounts_config_is_intact_after(
    own_redis: tuple[RedisProcess, Redis],
) -> None:
    server, redis = own_redis
    registry = make_registry(redis)
    seed = make_seed(registry)
    await seed_accounts(registry, seed)
    await seed(workflow=[{"id": "wf-2", "integration": "slack-app", "trigger": "*"}])
    settings = make_settings(server.url, redis_deadline_s=1.0)
    async with running(settings) as http:
        before = await http.patch(f"{BASE}/credentials/cred-a", json=CONFIGURED, headers=bearer("u1"))
        assert before.status_code == 200
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            frozen = await http.patch(f"{BASE}/credentials/cred-a", json=disabled("wf-1"), headers=bearer("u1"))
            took_s = time.monotonic() - started
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        assert frozen.status_code == 503 and frozen.json()["error"] == "store_unavailable"
        assert frozen.headers["retry-after"] and took_s <= 1.0 + 1.5
        shown = (await http.get(f"{BASE}/credentials/cred-a", headers=bearer("u1"))).json()
    stored = await registry.get("credential", "cred-a")
    assert isinstance(stored, Credential) and set(stored.config.configured_workflows) == set(
        shown["config"]["configuredWorkflows"]
    )
    # Either nothing was written, or the whole write landed (the MULTI was sent before the freeze): never half.
    assert shown["config"]["configuredWorkflows"] in (
        {"wf-2": {"enabled": True, "settings": {"k": "v"}}},
        {"wf-1": {"enabled": False, "settings": {}}},
    )


async def test_sdk_integrations_lists_the_projects_integrations_and_the_workflows_the_user_may_have(
    settings: Settings, seed: Seed, registry: Registry
) -> None:
    await seed_accounts(registry, seed, workflow={"name": "Send Updates to Slack"})
    await seed(
        integration=[{"id": "hub-app", "type": "hubspot", "enabled": False, "display": {"brand_color": "#FF7A59"}}],
        workflow=[
            {"id": "wf-pro", "integration": "slack-app", "permissions": PRO_ONLY},
            {"id": "wf-draft", "integration": "slack-app", "deployed": False},
        ],
    )
    async with running(settings) as http:
        listed = await http.get(f"{BASE}/integrations", headers=bearer("u1"))
    assert listed.status_code == 200
    assert listed.json() == [
        {
            "id": "hub-app",
            "projectId": PROJECT,
            "customIntegrationId": None,
            "type": "hubspot",
            "isActive": False,
            "workflows": [],
            "customIntegration": None,
            "hasCredential": False,
            "name": "Hubspot",
            "brandColor": "#FF7A59",
            "providerType": "hubspot",
        },
        {
            "id": "slack-app",
            "projectId": PROJECT,
            "customIntegrationId": None,
            "type": "slack",
            "isActive": True,
            # wf-pro is hidden by its permissions (u1 is on the free plan), wf-draft is not deployed.
            "workflows": [
                {
                    "id": "wf-1",
                    "description": "Send Updates to Slack",
                    "projectId": PROJECT,
                    "integrationId": "slack-app",
                }
            ],
            "customIntegration": None,
            "hasCredential": True,
            "name": "Slack",
            "brandColor": None,
            "providerType": "slack",
        },
    ]


async def test_sdk_metadata_lists_each_integration_type_with_the_display_fields_its_record_holds(
    settings: Settings, seed: Seed, registry: Registry
) -> None:
    await seed_accounts(registry, seed)
    slack = {"name": "Slack", "brand_color": "#4A154B", "icon": "https://cdn.example.com/integrations/slack.svg"}
    await seed(
        integration=[
            {"id": "slack-app", "type": "slack", "secrets": [SLACK_SECRET], "display": slack},
            {"id": "slack-z-second", "type": "slack", "display": {"name": "Second"}},
            {"id": "hub-app", "type": "hubspot"},
            {"id": "teams-app", "type": "microsoft-teams", "display": {"brand_color": "#464EB8"}},
        ]
    )
    async with running(settings) as http:
        # A new user's first token works here as on every SDK route (the Connect Portal asks before connecting).
        shown = await http.get(f"{BASE}/metadata", headers={**bearer("newbie"), "content-type": "application/json"})
    assert shown.status_code == 200, shown.text
    assert shown.json() == [
        {"type": "hubspot", "name": "Hubspot", "brandColor": None, "icon": None},
        {
            "type": "slack",
            "name": "Slack",
            "brandColor": "#4A154B",
            "icon": "https://cdn.example.com/integrations/slack.svg",
        },
        {"type": "microsoft-teams", "name": "Microsoft Teams", "brandColor": "#464EB8", "icon": None},
    ]


@pytest.mark.parametrize(
    ("display", "field"),
    [
        ({"brand_color": "red"}, "brand_color"),
        ({"icon": "http://cdn.example.com/a.svg"}, "icon"),
        ({"icon": "javascript:alert(1)"}, "icon"),
        ({"name": ""}, "name"),
        ({"colour": "#000000"}, "colour"),
    ],
)
async def test_bad_display_fields_are_refused_when_written(display: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=f"display.{field}"):
        Integration.model_validate({"id": "x", "project": PROJECT, "type": "slack", "display": display})
