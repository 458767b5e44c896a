"""Provider-side subscriptions against a real loopback server playing Microsoft Graph and ClickUp."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

import verifiers
from subscriptions.keys import LifecycleKeys
from subscriptions.lifecycle import Lifecycle, LifecycleConfig, SubscriptionKey, desired_subscriptions
from subscriptions.lifecycle_state import SubscriptionState
from subscriptions.models import Activation, activation_id
from subscriptions.providers import microsoft_graph
from subscriptions.providers.spec import iso, parse_expiry
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache
from tests.clock import Clock
from tests.router.conftest import Seed, make_registry, make_seed
from tests.subscriptions.fake_provider import CLICKUP_SECRET, FakeProvider, serve_in_thread

pytestmark = pytest.mark.anyio

BASE = "https://hooks.example.com"
T0 = 1_700_000_000.0
MEMBER = SubscriptionKey("cred-u1", "onedrive:me/drive/root:updated").member
LIFETIME = microsoft_graph.LIFETIME_S


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with serve_in_thread(FakeProvider()) as running:
        yield running


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
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def lifecycle(
    redis: Redis, registry: Registry, http: httpx.AsyncClient, provider: FakeProvider, clock: Clock
) -> Lifecycle:
    return make_lifecycle(redis, registry, http, provider, clock)


def make_lifecycle(
    redis: Redis, registry: Registry, http: httpx.AsyncClient, provider: FakeProvider, clock: Clock, **config: Any
) -> Lifecycle:
    cfg = LifecycleConfig(api_bases=provider.api_bases, **config)
    # jitter 1.0: the full computed backoff, so the tests can name the moment of the next attempt.
    return Lifecycle(
        SnapshotCache(registry).refresh, redis, registry.box, http, BASE, config=cfg, clock=clock, jitter=lambda: 1.0
    )


async def seed_onedrive(
    seed: Seed, *, workflows: tuple[str, ...] = ("wf-1",), trigger: str = "File Change", **cred: Any
) -> None:
    await seed(
        integration=[{"id": "od-app", "type": "onedrive"}],
        user=[{"id": "u1"}],
        credential=[
            {"id": "cred-u1", "user": "u1", "integration": "od-app", "values": {"access_token": "tok-u1"}, **cred}
        ],
        workflow=[{"id": w, "integration": "od-app", "trigger": trigger} for w in workflows],
        activate=[(w, "u1") for w in workflows],
    )


async def deactivate(registry: Registry, workflow: str, user: str = "u1") -> None:
    await registry.put(
        Activation(id=activation_id(workflow, user), project="p1", workflow=workflow, user=user, enabled=False)
    )


async def state(lifecycle: Lifecycle, member: str = MEMBER) -> SubscriptionState:
    loaded = await lifecycle.store.load(member)
    assert loaded is not None, "no subscription state stored"
    return loaded


async def test_first_activation_creates_one_graph_subscription(
    seed: Seed, lifecycle: Lifecycle, provider: FakeProvider
) -> None:
    await seed_onedrive(seed)
    assert await lifecycle.reconcile_once() == {"created": 1}
    [call] = provider.calls
    assert (call.method, call.path) == ("POST", "/graph/subscriptions")
    assert call.headers["authorization"] == "Bearer tok-u1"
    assert call.body["notificationUrl"] == f"{BASE}/webhook/triggers/connect/onedrive/od-app?id=cred-u1"
    assert call.body["resource"] == "me/drive/root" and call.body["changeType"] == "updated"
    assert call.body["expirationDateTime"] == iso(T0 + LIFETIME)
    current = await state(lifecycle)
    assert current.status == "active" and current.provider_id == "sub-1"
    assert current.expires_at == pytest.approx(T0 + LIFETIME, abs=1e-3)
    assert current.secret == call.body["clientState"] and len(current.secret) >= 32
    assert await lifecycle.reconcile_once() == {}  # nothing left to do: no second call
    assert len(provider.calls) == 1


async def test_graph_client_state_verifies_that_subscriptions_notifications(
    seed: Seed, lifecycle: Lifecycle, provider: FakeProvider
) -> None:
    await seed_onedrive(seed)
    await lifecycle.reconcile_once()
    client_state = provider.calls[0].body["clientState"]
    secrets = await lifecycle.secrets_for("od-app", "cred-u1")
    assert secrets == [client_state]
    body = b'{"value":[{"subscriptionId":"sub-1","clientState":"%s","changeType":"updated"}]}' % client_state.encode()
    verifiers.verify("microsoft_graph", secrets=secrets, headers={}, body=body)
    assert await lifecycle.secrets_for("od-app", "someone-else") == []


async def test_a_second_workflow_on_the_same_trigger_type_creates_nothing(
    seed: Seed, lifecycle: Lifecycle, provider: FakeProvider
) -> None:
    await seed_onedrive(seed)
    await lifecycle.reconcile_once()
    # "*" on OneDrive needs the same subscription as "File Change": one per (credential, trigger type).
    await seed(workflow=[{"id": "wf-2", "integration": "od-app", "trigger": "*"}], activate=[("wf-2", "u1")])
    assert await lifecycle.reconcile_once() == {}
    assert len(provider.on("POST")) == 1


async def test_two_workers_reconciling_at_once_create_exactly_one(
    seed: Seed, redis: Redis, registry: Registry, http: httpx.AsyncClient, provider: FakeProvider, clock: Clock
) -> None:
    await seed_onedrive(seed)
    provider.delay_s = 0.3  # both workers see "missing" while the first call is in flight
    workers = [make_lifecycle(redis, registry, http, provider, clock) for _ in range(3)]
    results = await asyncio.gather(*(w.reconcile_once() for w in workers))
    assert sum(r["created"] for r in results) == 1
    assert len(provider.on("POST")) == 1
    assert [await w.reconcile_once() for w in workers] == [{}, {}, {}]
    assert len(provider.calls) == 1


async def test_deactivating_the_last_workflow_deletes_the_subscription(
    seed: Seed, registry: Registry, redis: Redis, lifecycle: Lifecycle, provider: FakeProvider
) -> None:
    await seed_onedrive(seed, workflows=("wf-1", "wf-2"))
    await lifecycle.reconcile_once()
    await deactivate(registry, "wf-1")
    assert await lifecycle.reconcile_once() == {}  # wf-2 still needs it
    await deactivate(registry, "wf-2")
    assert await lifecycle.reconcile_once() == {"deleted": 1}
    [call] = provider.on("DELETE")
    assert call.path == "/graph/subscriptions/sub-1" and call.headers["authorization"] == "Bearer tok-u1"
    assert provider.live == {}
    assert await lifecycle.store.load(MEMBER) is None
    assert await lifecycle.store.members() == set()
    assert await lifecycle.secrets_for("od-app") == []


async def test_removing_the_credential_deletes_with_the_token_it_was_created_with(
    seed: Seed, registry: Registry, lifecycle: Lifecycle, provider: FakeProvider
) -> None:
    await seed_onedrive(seed)
    await lifecycle.reconcile_once()
    assert await registry.delete("credential", "cred-u1")
    assert await lifecycle.reconcile_once() == {"deleted": 1}
    [call] = provider.on("DELETE")
    assert call.path == "/graph/subscriptions/sub-1" and call.headers["authorization"] == "Bearer tok-u1"
    assert await lifecycle.store.members() == set()


@pytest.mark.parametrize(
    ("change", "value"),
    [("status", "INVALID"), ("user_disabled", True), ("deployed", False), ("account_config", False)],
)
async def test_unusable_credential_or_workflow_wants_no_subscription(
    seed: Seed, registry: Registry, change: str, value: object
) -> None:
    await seed_onedrive(seed)
    if change == "account_config":  # the workflow switched off on this account (the SDK's configuredWorkflows)
        config = {"configured_workflows": {"wf-1": {"enabled": value}}}
        await seed(credential=[{"id": "cred-u1", "user": "u1", "integration": "od-app", "config": config}])
    elif change == "status":
        await seed(credential=[{"id": "cred-u1", "user": "u1", "integration": "od-app", "status": value}])
    elif change == "user_disabled":
        await seed(user=[{"id": "u1", "disabled": value}])
    else:
        await seed(workflow=[{"id": "wf-1", "integration": "od-app", "trigger": "File Change", "deployed": value}])
    snapshot = await SnapshotCache(registry).refresh()
    assert desired_subscriptions(snapshot) == {}


async def test_graph_subscription_is_renewed_before_it_lapses(
    seed: Seed, lifecycle: Lifecycle, provider: FakeProvider, clock: Clock
) -> None:
    await seed_onedrive(seed)
    await lifecycle.reconcile_once()
    clock.now = T0 + LIFETIME * 0.6  # 40% left: not yet
    assert await lifecycle.reconcile_once() == {}
    clock.now = T0 + LIFETIME * 0.7  # under a third left
    assert await lifecycle.reconcile_once() == {"renewed": 1}
    [patch] = provider.on("PATCH")
    assert patch.path == "/graph/subscriptions/sub-1"
    assert patch.body == {"expirationDateTime": iso(clock.now + LIFETIME)}
    renewed = await state(lifecycle)
    assert renewed.expires_at == pytest.approx(clock.now + LIFETIME, abs=1e-3) and renewed.provider_id == "sub-1"
    assert await lifecycle.reconcile_once() == {}
    assert len(provider.on("POST")) == 1


async def test_lapsed_subscription_is_created_again(
    seed: Seed, lifecycle: Lifecycle, provider: FakeProvider, clock: Clock
) -> None:
    await seed_onedrive(seed)
    await lifecycle.reconcile_once()
    clock.now = T0 + LIFETIME + 1  # every worker was down past the expiry
    assert await lifecycle.reconcile_once() == {"created": 1}
    assert len(provider.on("POST")) == 2 and provider.on("PATCH") == []
    assert (await state(lifecycle)).provider_id == "sub-2"


async def test_renewal_of_a_subscription_the_provider_dropped_creates_a_new_one(
    seed: Seed, lifecycle: Lifecycle, provider: FakeProvider, clock: Clock
) -> None:
    await seed_onedrive(seed)
    await lifecycle.reconcile_once()
    provider.live.clear()  # Graph removed it (the user revoked consent, say): PATCH answers 404
    clock.now = T0 + LIFETIME * 0.9
    assert await lifecycle.reconcile_once() == {"created": 1}
    assert [c.method for c in provider.calls] == ["POST", "PATCH", "POST"]


async def test_server_error_is_retried_with_backoff_then_succeeds(
    seed: Seed, lifecycle: Lifecycle, provider: FakeProvider, clock: Clock
) -> None:
    await seed_onedrive(seed)
    provider.fail(500)
    assert await lifecycle.reconcile_once() == {"retry": 1}
    pending = await state(lifecycle)
    assert (pending.status, pending.attempts, pending.http_status) == ("pending", 1, 500)
    assert pending.next_attempt_at == T0 + 2.0  # base 2 s, jitter 1.0
    assert await lifecycle.reconcile_once() == {}  # not before next_attempt_at: no hot loop
    assert len(provider.calls) == 1
    clock.now = T0 + 2.0
    provider.fail(503)
    assert await lifecycle.reconcile_once() == {"retry": 1}
    assert (await state(lifecycle)).next_attempt_at == clock.now + 4.0  # doubled
    clock.now += 4.0
    assert await lifecycle.reconcile_once() == {"created": 1}
    assert len(provider.calls) == 3 and (await state(lifecycle)).status == "active"


async def test_429_waits_for_retry_after(seed: Seed, lifecycle: Lifecycle, provider: FakeProvider) -> None:
    await seed_onedrive(seed)
    provider.fail(429, **{"retry-after": "120"})
    assert await lifecycle.reconcile_once() == {"retry": 1}
    assert (await state(lifecycle)).next_attempt_at == T0 + 120


async def test_401_marks_the_subscription_failed_without_hammering(
    seed: Seed, lifecycle: Lifecycle, provider: FakeProvider, clock: Clock
) -> None:
    await seed_onedrive(seed)
    provider.fail(401)
    assert await lifecycle.reconcile_once() == {"failed": 1}
    failed = await state(lifecycle)
    assert (failed.status, failed.http_status, failed.error, failed.op) == ("failed", 401, "http_401", "create")
    assert "secret" not in failed.public() and failed.public()["http_status"] == 401
    for hours in (1, 2, 12):
        clock.now = T0 + hours * 3600
        assert await lifecycle.reconcile_once() == {}
    assert len(provider.calls) == 1
    clock.now = T0 + 86400  # retry_failed_after_s: one more try, a day later
    assert await lifecycle.reconcile_once() == {"created": 1}


async def test_missing_credential_value_fails_without_calling_the_provider(
    seed: Seed, lifecycle: Lifecycle, provider: FakeProvider
) -> None:
    await seed_onedrive(seed, values={})
    assert await lifecycle.reconcile_once() == {"failed": 1}
    assert "credential.access_token" in (await state(lifecycle)).error
    assert provider.calls == []


async def test_unreachable_provider_is_retried(
    seed: Seed, redis: Redis, registry: Registry, http: httpx.AsyncClient, clock: Clock
) -> None:
    await seed_onedrive(seed)
    closed = FakeProvider(base="http://127.0.0.1:9")  # discard port: nothing listens, connection refused
    lifecycle = make_lifecycle(redis, registry, http, closed, clock)
    assert await lifecycle.reconcile_once() == {"retry": 1}
    assert (await state(lifecycle)).error.startswith("transport: ")


async def test_failed_delete_is_retried_later_and_stays_visible(
    seed: Seed, registry: Registry, lifecycle: Lifecycle, provider: FakeProvider, clock: Clock
) -> None:
    await seed_onedrive(seed)
    await lifecycle.reconcile_once()
    await deactivate(registry, "wf-1")
    provider.fail(500)
    assert await lifecycle.reconcile_once() == {"retry": 1}
    assert await lifecycle.reconcile_once() == {}
    clock.now += 2.0
    provider.fail(403)
    assert await lifecycle.reconcile_once() == {"failed": 1}
    kept = await state(lifecycle)
    assert (kept.op, kept.http_status, kept.provider_id) == ("delete", 403, "sub-1")
    clock.now += 3600
    assert await lifecycle.reconcile_once() == {}
    assert len(provider.on("DELETE")) == 2


async def test_clickup_secret_returned_at_creation_is_stored_sealed_and_verifies(
    seed: Seed, redis: Redis, lifecycle: Lifecycle, provider: FakeProvider
) -> None:
    await seed(
        integration=[{"id": "cu-app", "type": "clickup"}],
        user=[{"id": "u1"}],
        credential=[
            {
                "id": "cred-cu",
                "user": "u1",
                "integration": "cu-app",
                "provider_id": "9001",
                "values": {"access_token": "cu-tok"},
            }
        ],
        workflow=[{"id": "wf-cu", "integration": "cu-app", "trigger": "New Task Created"}],
        activate=[("wf-cu", "u1")],
    )
    assert await lifecycle.reconcile_once() == {"created": 1}
    [call] = provider.calls
    assert call.path == "/clickup/team/9001/webhook"
    assert call.body == {"endpoint": f"{BASE}/webhook/triggers/connect/clickup/cu-app?id=cred-cu", "events": ["*"]}
    # Nowhere in Redis in clear: not the returned secret, not the token kept for the later DELETE.
    for key in await redis.keys("*"):
        dumped = await redis.dump(key)
        assert dumped is not None
        assert CLICKUP_SECRET.encode() not in dumped and b"cu-tok" not in dumped, key
    [secret] = await lifecycle.secrets_for("cu-app", "cred-cu")
    assert secret == CLICKUP_SECRET
    body = b'{"event":"taskCreated","webhook_id":"wh-1"}'
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    verifiers.verify("clickup", secrets=[secret], headers={"X-Signature": signature}, body=body)


async def test_state_keys_live_under_one_hash_tag(seed: Seed, redis: Redis, lifecycle: Lifecycle) -> None:
    await seed_onedrive(seed)
    await lifecycle.reconcile_once()
    keys = LifecycleKeys()
    assert await redis.exists(keys.state(MEMBER), keys.index, keys.secrets("od-app")) == 3
    assert all("{subs}" in k for k in (keys.state(MEMBER), keys.index, keys.lock(MEMBER), keys.enabled))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-11-14T22:13:20.1234567Z", 1_700_000_000.1234567),
        ("2023-11-14T22:13:20Z", 1_700_000_000.0),
        ("2023-11-14T22:13:20", 1_700_000_000.0),
        ("1700000000", 1_700_000_000.0),
        ("next tuesday", None),
    ],
)
def test_parse_expiry(text: str, expected: float | None) -> None:
    parsed = parse_expiry(text)
    assert parsed == (None if expected is None else pytest.approx(expected, abs=1e-5))


async def test_an_integrations_api_base_url_replaces_the_public_graph_host(
    redis: Redis, registry: Registry, seed: Seed, http: httpx.AsyncClient, provider: FakeProvider, clock: Clock
) -> None:
    # A national cloud (graph.microsoft.us) is an integration's api_base_url; the public host is never called.
    lifecycle = Lifecycle(
        SnapshotCache(registry).refresh,
        redis,
        registry.box,
        http,
        BASE,
        config=LifecycleConfig(api_bases={"graph": "http://127.0.0.1:9/unreachable"}),
        clock=clock,
    )
    await seed(
        integration=[{"id": "od-app", "type": "onedrive", "options": {"api_base_url": f"{provider.base}/graph/"}}],
        user=[{"id": "u1"}],
        credential=[{"id": "cred-u1", "user": "u1", "integration": "od-app", "values": {"access_token": "tok-u1"}}],
        workflow=[{"id": "wf-1", "integration": "od-app", "trigger": "File Change"}],
        activate=[("wf-1", "u1")],
    )
    assert await lifecycle.reconcile_once() == {"created": 1}
    [call] = provider.calls
    assert (call.method, call.path) == ("POST", "/graph/subscriptions")


async def test_a_credential_without_a_value_the_subscription_names_fails_alone(
    seed: Seed, lifecycle: Lifecycle, provider: FakeProvider
) -> None:
    # SharePoint's subscription resource names the credential's site_id: one credential without it must not
    # stop the pass (and every other subscription with it).
    await seed_onedrive(seed)
    await seed(
        integration=[{"id": "sp-app", "type": "sharepoint"}],
        credential=[{"id": "cred-sp", "user": "u1", "integration": "sp-app", "values": {"access_token": "tok"}}],
        workflow=[{"id": "wf-sp", "integration": "sp-app", "trigger": "Item Created"}],
        activate=[("wf-sp", "u1")],
    )
    assert await lifecycle.reconcile_once() == {"created": 1, "failed": 1}
    assert (await state(lifecycle)).status == "active"  # the OneDrive subscription, created in the same pass
    failed = [s for m in await lifecycle.store.members() if (s := await lifecycle.store.load(m)) and s.error]
    assert [s.credential for s in failed] == ["cred-sp"] and "credential.site_id" in failed[0].error
    assert [call for call in provider.calls if "sites/" in str(call)] == []
