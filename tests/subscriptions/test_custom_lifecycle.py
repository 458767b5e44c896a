"""Custom webhook definitions with ``setup: api_request``: their subscriptions, against the loopback provider.

The fake provider's ClickUp routes play the provider (or the operator's API): create answers with an id and
a secret (``CLICKUP_SECRET``), delete drops it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from router.runtime.lifecycle import build_runner
from router.storage.keys import ROUTING_GROUP
from router.storage.store import EventStore
from subscriptions.config import load
from subscriptions.custom import CustomWebhook
from subscriptions.custom_lifecycle import custom_subscriptions, secrets_owner
from subscriptions.errors import ConfigError
from subscriptions.lifecycle import Lifecycle, LifecycleConfig, SubscriptionKey
from subscriptions.lifecycle_state import SubscriptionState
from subscriptions.models import Activation, activation_id
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache
from tests.router.conftest import Seed, make_registry, make_seed, make_settings, running
from tests.subscriptions.fake_provider import CLICKUP_SECRET, FakeProvider, serve_in_thread

pytestmark = pytest.mark.anyio

BASE = "https://hooks.example.com"
MEMBER = SubscriptionKey("cred-u1", "custom:cw-1").member
RESOURCE_MEMBER = SubscriptionKey("conn-u1", "custom:res-trigger").member
HMAC_SPEC = {"algorithm": "sha256", "encoding": "hex", "signature_header": "X-Sig", "prefix": "sha256="}


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with serve_in_thread(FakeProvider()) as running_provider:
        yield running_provider


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


@pytest.fixture
def registry(redis: Redis) -> Registry:
    return make_registry(redis)


@pytest.fixture
def seed(registry: Registry) -> Seed:
    return make_seed(registry)


@pytest.fixture
def lifecycle(redis: Redis, registry: Registry, http: httpx.AsyncClient, provider: FakeProvider) -> Lifecycle:
    config = LifecycleConfig(api_bases=provider.api_bases)
    return Lifecycle(
        SnapshotCache(registry).refresh, redis, registry.box, http, BASE, holders=(custom_subscriptions,), config=config
    )


def subscription(url: str, auth: str) -> dict[str, Any]:
    """A ClickUp-shaped subscription spec; the key and webhook path are left to the definition."""
    headers = {"authorization": f"Bearer {{{{credential.{auth}}}}}"}
    return {
        "create": {
            "url": url,
            "headers": headers,
            "body": {"endpoint": "{{settings.webhookURL}}", "events": ["record.created"]},
        },
        "delete": {
            "method": "DELETE",
            "url": url.split("/team/")[0] + "/webhook/{{subscription.id}}",
            "headers": headers,
        },
        "id_path": "webhook.id",
        "secret_path": "webhook.secret",
    }


async def seed_crm(
    seed: Seed, provider: FakeProvider, *, workflows: int = 1, users: tuple[str, ...] = ("u1",), **custom: Any
) -> None:
    """Integration "crm" with a user-level api_request definition cw-1; each user has credential cred-<user>
    (token tok-<user>, team T-<user>) and every workflow on cw-1 activated for the first user only."""
    definition = {
        "id": "cw-1",
        "integration": "crm",
        "level": "user",
        "setup": "api_request",
        "verification": {"hmac": HMAC_SPEC},
        "subscription": subscription(f"{provider.base}/clickup/team/{{{{credential.team}}}}/webhook", "access_token"),
        **custom,
    }
    wfs = [f"wf-{n}" for n in range(workflows)]
    await seed(
        integration=[{"id": "crm", "type": "github"}],
        user=[{"id": u} for u in users],
        credential=[
            {
                "id": f"cred-{u}",
                "user": u,
                "integration": "crm",
                "values": {"access_token": f"tok-{u}", "team": f"T-{u}"},
            }
            for u in users
        ],
        custom_webhook=[definition],
        workflow=[{"id": w, "integration": "crm", "trigger_type": "custom", "trigger": "cw-1"} for w in wfs],
        activate=[(w, users[0]) for w in wfs],
    )


async def seed_resource(seed: Seed, provider: FakeProvider) -> None:
    """API resource "tasklab" (base URL: the fake's ClickUp API) with definition res-trigger; conn-u1 has an
    activated workflow on it, conn-u2 does not."""
    await seed(
        api_resource=[{"id": "tasklab", "level": "user", "base_url": f"{provider.base}/clickup/"}],
        user=[{"id": "u1"}, {"id": "u2"}],
        resource_connection=[
            {
                "id": f"conn-{u}",
                "user": u,
                "api_resource": "tasklab",
                "values": {"api_key": f"key-{u}", "acct": f"A-{u}"},
            }
            for u in ("u1", "u2")
        ],
        custom_webhook=[
            {
                "id": "res-trigger",
                "api_resource": "tasklab",
                "level": "user",
                "setup": "api_request",
                "verification": {"none": True},
                "subscription": subscription("{{resource.base_url}}/team/{{credential.acct}}/webhook", "api_key"),
            }
        ],
        workflow=[{"id": "rw-1", "integration": "tasklab", "trigger_type": "custom", "trigger": "res-trigger"}],
        activate=[("rw-1", "u1")],
    )


async def deactivate(registry: Registry, workflow: str, user: str = "u1") -> None:
    await registry.put(
        Activation(id=activation_id(workflow, user), project="p1", workflow=workflow, user=user, enabled=False)
    )


async def state(lifecycle: Lifecycle, member: str = MEMBER) -> SubscriptionState:
    loaded = await lifecycle.store.load(member)
    assert loaded is not None, "no subscription state stored"
    return loaded


async def test_first_activation_creates_one_subscription_from_the_definitions_templates(
    seed: Seed, lifecycle: Lifecycle, provider: FakeProvider
) -> None:
    await seed_crm(seed, provider, users=("u1", "u2"))
    assert await lifecycle.reconcile_once() == {"created": 1}  # u2 has no activated workflow on cw-1
    [call] = provider.calls
    assert (call.method, call.path) == ("POST", "/clickup/team/T-u1/webhook")
    assert call.headers["authorization"] == "Bearer tok-u1"
    assert call.body == {"endpoint": f"{BASE}/webhook/triggers/custom/cw-1?id=cred-u1", "events": ["record.created"]}
    current = await state(lifecycle)
    assert (current.status, current.provider_id, current.secret) == ("active", "wh-1", CLICKUP_SECRET)
    assert await lifecycle.secrets_for(secrets_owner("cw-1"), "cred-u1") == [CLICKUP_SECRET]
    assert await lifecycle.secrets_for("crm", "cred-u1") == []  # not a secret of the integration's own URL
    assert await lifecycle.reconcile_once() == {}
    assert len(provider.calls) == 1


async def test_one_subscription_per_credential_however_many_workflows_until_the_last_is_deactivated(
    seed: Seed, registry: Registry, lifecycle: Lifecycle, provider: FakeProvider
) -> None:
    await seed_crm(seed, provider, workflows=2)
    assert await lifecycle.reconcile_once() == {"created": 1}
    await seed(workflow=[{"id": "wf-2", "integration": "crm", "trigger_type": "custom", "trigger": "cw-1"}])
    await seed(activate=[("wf-2", "u1")])
    assert await lifecycle.reconcile_once() == {}  # a third workflow on the same definition: nothing new
    await deactivate(registry, "wf-0")
    await deactivate(registry, "wf-1")
    assert await lifecycle.reconcile_once() == {}  # wf-2 still wants it
    await deactivate(registry, "wf-2")
    assert await lifecycle.reconcile_once() == {"deleted": 1}
    assert [(c.method, c.path) for c in provider.calls] == [
        ("POST", "/clickup/team/T-u1/webhook"),
        ("DELETE", "/clickup/webhook/wh-1"),
    ]
    assert provider.calls[1].headers["authorization"] == "Bearer tok-u1"
    assert await lifecycle.store.load(MEMBER) is None
    assert await lifecycle.secrets_for(secrets_owner("cw-1"), "cred-u1") == []
    assert provider.live == {}


async def test_removing_the_credential_deletes_its_subscription_with_the_sealed_token(
    seed: Seed, registry: Registry, lifecycle: Lifecycle, provider: FakeProvider
) -> None:
    await seed_crm(seed, provider)
    await lifecycle.reconcile_once()
    assert await registry.delete("credential", "cred-u1")
    assert await lifecycle.reconcile_once() == {"deleted": 1}
    delete = provider.calls[-1]
    assert (delete.method, delete.path, delete.headers["authorization"]) == (
        "DELETE",
        "/clickup/webhook/wh-1",
        "Bearer tok-u1",
    )


@pytest.mark.parametrize(
    "change",
    [
        {"setup": "manual", "subscription": None},  # a manual definition: the operator registers the URL
        {"deployed": False},  # an undeployed workflow wants nothing
    ],
)
async def test_nothing_is_created_without_an_api_request_definition_and_a_live_workflow(
    seed: Seed, lifecycle: Lifecycle, provider: FakeProvider, change: dict[str, Any]
) -> None:
    if "setup" in change:
        await seed_crm(seed, provider, **change)
    else:
        await seed_crm(seed, provider)
        await seed(
            workflow=[{"id": "wf-0", "integration": "crm", "trigger_type": "custom", "trigger": "cw-1", **change}]
        )
    assert await lifecycle.reconcile_once() == {}
    assert provider.calls == []


async def test_an_api_resource_connection_gets_its_own_subscription_at_the_resource_base_url(
    seed: Seed, registry: Registry, lifecycle: Lifecycle, provider: FakeProvider
) -> None:
    await seed_resource(seed, provider)
    await seed_crm(seed, provider)
    assert await lifecycle.reconcile_once() == {"created": 2}
    by_path = {c.path: c for c in provider.calls}
    call = by_path["/clickup/team/A-u1/webhook"]  # conn-u2 has no activated workflow: no call for it
    assert call.headers["authorization"] == "Bearer key-u1"
    assert call.body["endpoint"] == f"{BASE}/webhook/triggers/custom/res-trigger?id=conn-u1"
    current = await state(lifecycle, RESOURCE_MEMBER)
    assert current.integration == secrets_owner("res-trigger") and current.status == "active"
    assert await lifecycle.secrets_for(secrets_owner("res-trigger"), "conn-u1") == [CLICKUP_SECRET]
    await registry.delete("resource_connection", "conn-u1")
    assert await lifecycle.reconcile_once() == {"deleted": 1}
    delete = provider.calls[-1]
    assert delete.method == "DELETE" and delete.headers["authorization"] == "Bearer key-u1"
    assert await lifecycle.store.load(RESOURCE_MEMBER) is None
    assert await lifecycle.store.load(MEMBER) is not None


async def test_a_disabled_user_or_a_missing_resource_holds_no_subscription(
    seed: Seed, registry: Registry, lifecycle: Lifecycle, provider: FakeProvider
) -> None:
    await seed_resource(seed, provider)
    await seed(user=[{"id": "u1", "disabled": True}])
    assert await lifecycle.reconcile_once() == {}
    await seed(user=[{"id": "u1"}])
    assert await lifecycle.reconcile_once() == {"created": 1}
    await registry.delete("api_resource", "tasklab")
    assert await lifecycle.reconcile_once() == {"deleted": 1}


def sign(body: bytes, secret: str) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"x-sig": f"sha256={digest}", "content-type": "application/json"}


async def test_the_returned_secret_verifies_events_at_that_users_custom_url(
    redis_url: str, redis: Redis, seed: Seed, registry: Registry, provider: FakeProvider
) -> None:
    await seed_crm(seed, provider, users=("u1", "u2"))
    settings = make_settings(redis_url, public_url=BASE)
    store = EventStore(redis, maxlen=1000, group=ROUTING_GROUP, consumer="test")
    async with httpx.AsyncClient(timeout=5) as http:
        # The runner the workers start: proves the custom source is wired in.
        runner = build_runner(settings, redis, registry.box, SnapshotCache(registry), store, http)
        await runner.run_once()
    assert [c.path for c in provider.on("POST")] == ["/clickup/team/T-u1/webhook"]
    body = b'{"record": 1}'
    async with running(settings) as client:
        ok = await client.post(
            "/webhook/triggers/custom/cw-1?id=cred-u1", content=body, headers=sign(body, CLICKUP_SECRET)
        )
        forged = await client.post("/webhook/triggers/custom/cw-1?id=cred-u1", content=body, headers=sign(body, "nope"))
        other = await client.post(
            "/webhook/triggers/custom/cw-1?id=cred-u2", content=body, headers=sign(body, CLICKUP_SECRET)
        )
    assert ok.status_code == 200, ok.text
    assert len(ok.json()["ids"]) == 1
    assert forged.status_code == 401
    assert other.status_code == 401  # cred-u2 holds no subscription: u1's secret does not vouch for it


CONFIG = """
project: {id: p1}
integrations:
  - {id: crm, type: github}
custom_webhooks:
  - {id: cw, integration: crm, level: user, verification: {none: true}%s}
"""
CREATE = "create: {url: 'https://api.example.com/hooks', body: {url: '{{settings.webhookURL}}'}}"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (", setup: api_request", "setup: api_request needs a subscription"),
        (", subscription: {" + CREATE + "}", "a subscription is only for setup: api_request"),
        (", setup: api_request, subscription: {key: mine, " + CREATE + "}", "subscription.key is the definition's own"),
        (
            ", setup: api_request, subscription: {webhook_path: /elsewhere, " + CREATE + "}",
            "subscription.webhook_path is the definition's own ('/webhook/triggers/custom/cw?id={{credential.id}}')",
        ),
        (", setup: api_request, subscription: {key: custom:cw}", "subscription.create"),
    ],
)
def test_setup_and_subscription_must_agree(tmp_path: Path, extra: str, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG % extra)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("level", "path"),
    [("user", "/webhook/triggers/custom/cw?id={{credential.id}}"), ("app", "/webhook/triggers/custom/cw")],
)
def test_the_key_and_webhook_path_are_the_definitions_own(level: str, path: str) -> None:
    definition = CustomWebhook.model_validate(
        {
            "id": "cw",
            "project": "p1",
            "integration": "crm",
            "level": level,
            **({"routing": "$.body.team"} if level == "app" else {}),
            "setup": "api_request",
            "verification": {"none": True},
            "subscription": {"create": {"url": "https://api.example.com/hooks"}},
        }
    )
    assert definition.subscription is not None
    assert (definition.subscription.key, definition.subscription.webhook_path) == ("custom:cw", path)
    again = CustomWebhook.model_validate_json(definition.model_dump_json())  # as the registry reloads it
    assert again.subscription == definition.subscription
    with pytest.raises(ValidationError, match="only for setup: api_request"):
        CustomWebhook.model_validate({**definition.model_dump(), "setup": "manual"})
