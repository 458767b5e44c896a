"""Graph subscription calls answered 401 refresh the OAuth access token as polls do, then call once more.

A real loopback Graph (``tests/subscriptions/fake_provider.py``) and a real loopback token endpoint
(``tests/router/fake_apis.py``), with the workers' ``TokenRefresher``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from router.notifications.events import Notifier
from router.notifications.producers import Transitions
from router.polling.state import PollStates
from router.polling.tokens import TokenRefresher, for_lifecycle
from router.storage.keys import ROUTING_GROUP, Keys
from router.storage.store import EventStore
from subscriptions.lifecycle import Lifecycle, LifecycleConfig, SubscriptionKey
from subscriptions.lifecycle_state import SubscriptionState
from subscriptions.models import Credential
from subscriptions.providers import microsoft_graph
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache
from tests.clock import Clock
from tests.router.conftest import Seed, xrange_all
from tests.router.fake_apis import FakeApis
from tests.subscriptions.fake_provider import FakeProvider, serve_in_thread

pytestmark = pytest.mark.anyio

KEYS = Keys()
T0 = 1_700_000_000.0
MEMBER = SubscriptionKey("cred-u1", "onedrive:me/drive/root:updated").member


@pytest.fixture
def graph() -> Iterator[FakeProvider]:
    with serve_in_thread(FakeProvider()) as running:
        yield running


@pytest.fixture
def apis() -> Iterator[FakeApis]:
    with serve_in_thread(FakeApis()) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


def make_lifecycle(
    redis: Redis, registry: Registry, http: httpx.AsyncClient, graph: FakeProvider, clock: Clock, *, refresh: bool
) -> Lifecycle:
    cache = SnapshotCache(registry)
    store = EventStore(redis, maxlen=100_000, group=ROUTING_GROUP, consumer="lifecycle")
    tokens = TokenRefresher(
        registry, cache, PollStates(redis, KEYS), Transitions(redis, KEYS), Notifier(store, KEYS), http, clock=clock
    )
    return Lifecycle(
        cache.refresh,
        redis,
        registry.box,
        http,
        "https://hooks.example.com",
        config=LifecycleConfig(api_bases=graph.api_bases),
        clock=clock,
        jitter=lambda: 1.0,
        refresh=for_lifecycle(tokens) if refresh else None,
    )


async def seed_onedrive(seed: Seed, apis: FakeApis, **values: str) -> None:
    options = {"token_url": f"{apis.base}/oauth/token", "client_id": "client-1", "client_secret": "client-secret-1"}
    await seed(
        integration=[{"id": "od-app", "type": "onedrive", "options": options}],
        user=[{"id": "u1"}],
        credential=[{"id": "cred-u1", "user": "u1", "integration": "od-app", "values": values}],
        workflow=[{"id": "wf-1", "integration": "od-app", "trigger": "File Change"}],
        activate=[("wf-1", "u1")],
    )


async def state(lifecycle: Lifecycle) -> SubscriptionState:
    loaded = await lifecycle.store.load(MEMBER)
    assert loaded is not None
    return loaded


async def credential(registry: Registry) -> dict[str, Any]:
    cred = await registry.get("credential", "cred-u1")
    assert isinstance(cred, Credential)
    return {"status": cred.status, **{k: v.get_secret_value() for k, v in cred.values.items()}}


def bearer(graph: FakeProvider) -> list[str]:
    return [c.headers["authorization"] for c in graph.calls]


async def test_a_401_to_a_create_refreshes_the_token_and_creates_with_the_new_one(
    redis: Redis, registry: Registry, seed: Seed, http: httpx.AsyncClient, graph: FakeProvider, apis: FakeApis
) -> None:
    clock = Clock(T0)
    await seed_onedrive(seed, apis, access_token="tok-old", refresh_token="rt-1")
    apis.refresh["rt-1"] = (200, {"access_token": "tok-new", "refresh_token": "rt-2", "expires_in": 3600})
    lifecycle = make_lifecycle(redis, registry, http, graph, clock, refresh=True)
    graph.fail(401)  # the old token expired
    assert await lifecycle.reconcile_once() == {"created": 1}
    assert bearer(graph) == ["Bearer tok-old", "Bearer tok-new"]
    assert [c.path for c in apis.calls] == ["/oauth/token"]
    stored = await credential(registry)
    assert (stored["access_token"], stored["refresh_token"]) == ("tok-new", "rt-2")
    created = await state(lifecycle)
    assert (created.status, created.provider_id) == ("active", "sub-1")


async def test_a_401_to_a_renewal_refreshes_the_token_and_renews(
    redis: Redis, registry: Registry, seed: Seed, http: httpx.AsyncClient, graph: FakeProvider, apis: FakeApis
) -> None:
    clock = Clock(T0)
    await seed_onedrive(seed, apis, access_token="tok-old", refresh_token="rt-1")
    apis.refresh["rt-1"] = (200, {"access_token": "tok-new", "expires_in": 3600})
    lifecycle = make_lifecycle(redis, registry, http, graph, clock, refresh=True)
    assert await lifecycle.reconcile_once() == {"created": 1}
    clock.now = T0 + microsoft_graph.LIFETIME_S * 0.7
    graph.fail(401)
    assert await lifecycle.reconcile_once() == {"renewed": 1}
    assert bearer(graph) == ["Bearer tok-old", "Bearer tok-old", "Bearer tok-new"]
    assert [c.method for c in graph.calls] == ["POST", "PATCH", "PATCH"]
    assert (await credential(registry))["access_token"] == "tok-new"


async def test_a_refused_refresh_fails_the_call_and_marks_the_credential_invalid(
    redis: Redis, registry: Registry, seed: Seed, http: httpx.AsyncClient, graph: FakeProvider, apis: FakeApis
) -> None:
    clock = Clock(T0)
    await seed_onedrive(seed, apis, access_token="tok-old", refresh_token="rt-revoked")
    lifecycle = make_lifecycle(redis, registry, http, graph, clock, refresh=True)
    graph.fail(401)
    assert await lifecycle.reconcile_once() == {"failed": 1}
    failed = await state(lifecycle)
    assert (failed.status, failed.http_status) == ("failed", 401)
    assert failed.error.startswith("token_refresh: ")
    assert len(graph.calls) == 1 and len(apis.calls) == 1  # no second call with a token that did not come
    assert (await credential(registry))["status"] == "INVALID"
    [(_, fields)] = await xrange_all(redis, KEYS.notifications)
    failure = json.loads(fields[b"event"])
    assert failure["type"] == "credentials_failure" and failure["data"]["error"].startswith("invalid_grant")


async def test_a_token_endpoint_that_is_down_makes_the_call_retryable(
    redis: Redis, registry: Registry, seed: Seed, http: httpx.AsyncClient, graph: FakeProvider, apis: FakeApis
) -> None:
    clock = Clock(T0)
    await seed_onedrive(seed, apis, access_token="tok-old", refresh_token="rt-1")
    lifecycle = make_lifecycle(redis, registry, http, graph, clock, refresh=True)
    graph.fail(401)
    apis.fail(503, **{"retry-after": "300"})
    assert await lifecycle.reconcile_once() == {"retry": 1}
    waiting = await state(lifecycle)
    assert waiting.status == "pending" and waiting.next_attempt_at == pytest.approx(T0 + 300)
    assert (await credential(registry))["status"] == "VALID"
    apis.refresh["rt-1"] = (200, {"access_token": "tok-new", "expires_in": 3600})
    clock.now = T0 + 300
    graph.fail(401)
    assert await lifecycle.reconcile_once() == {"created": 1}
    assert bearer(graph)[-1] == "Bearer tok-new"


async def test_without_a_refresh_token_or_a_refresher_a_401_fails_as_before(
    redis: Redis, registry: Registry, seed: Seed, http: httpx.AsyncClient, graph: FakeProvider, apis: FakeApis
) -> None:
    clock = Clock(T0)
    await seed_onedrive(seed, apis, access_token="tok-old")
    for refresh in (True, False):
        lifecycle = make_lifecycle(redis, registry, http, graph, clock, refresh=refresh)
        graph.fail(401)
        assert await lifecycle.reconcile_once() == {"failed": 1}
        assert (await state(lifecycle)).error == "http_401"
        await lifecycle.store.drop(await state(lifecycle))
    assert apis.calls == [] and len(graph.calls) == 2
