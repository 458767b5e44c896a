"""Handshake secrets are taken only while the router itself creates the subscription they belong to.

Unit level against a real Redis (``HandshakeExpectations``), then end to end: a custom definition whose
subscription is created at an Asana-shaped loopback provider that sends its ``X-Hook-Secret`` handshake to the
router while the create call waits, as Asana does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from redis.asyncio import Redis

from router.ingress.diagnostics import Diagnostics
from router.storage.keys import Keys
from subscriptions.crypto import SecretBox
from subscriptions.custom_lifecycle import custom_subscriptions, secrets_owner
from subscriptions.handshakes import HandshakeExpectations
from subscriptions.keys import LifecycleKeys
from subscriptions.lifecycle import Lifecycle, LifecycleConfig
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache
from tests.router.conftest import MASTER_KEY, Seed, make_registry, make_seed, make_settings, running
from tests.subscriptions.fake_provider import FakeProvider, serve_in_thread

pytestmark = pytest.mark.anyio

BASE = "https://hooks.example.com"
OWNER = secrets_owner("cw-1")
URL_U1 = "/webhook/triggers/custom/cw-1?id=cred-u1"


@pytest.fixture
def expectations(redis: Redis) -> HandshakeExpectations:
    return HandshakeExpectations(redis, SecretBox(base64.b64decode(MASTER_KEY)), LifecycleKeys())


async def test_a_secret_offered_with_no_expectation_is_refused(expectations: HandshakeExpectations) -> None:
    assert await expectations.offer("asana-app", "cred-1", "stranger") is False
    assert await expectations.take("asana-app", "cred-1") == ""


async def test_an_open_expectation_takes_the_first_secret_once(expectations: HandshakeExpectations) -> None:
    await expectations.expect("asana-app", "cred-1", ttl_s=30)
    assert await expectations.offer("asana-app", "cred-2", "other-credential") is False
    assert await expectations.offer("asana-app", "", "app-level-url") is False
    assert await expectations.offer("asana-app", "cred-1", "first") is True
    assert await expectations.offer("asana-app", "cred-1", "second") is False
    assert await expectations.take("asana-app", "cred-1") == "first"
    assert await expectations.take("asana-app", "cred-1") == ""  # single use: closed by the take
    assert await expectations.offer("asana-app", "cred-1", "late") is False


async def test_concurrent_handshakes_fill_an_expectation_exactly_once(expectations: HandshakeExpectations) -> None:
    await expectations.expect("asana-app", "cred-1", ttl_s=30)
    taken = await asyncio.gather(*(expectations.offer("asana-app", "cred-1", f"s{n}") for n in range(40)))
    assert sum(taken) == 1
    winner = f"s{taken.index(True)}"
    assert await expectations.take("asana-app", "cred-1") == winner


async def test_an_expectation_lapses_on_its_own(expectations: HandshakeExpectations, redis: Redis) -> None:
    await expectations.expect("asana-app", "cred-1", ttl_s=0.05)
    key = LifecycleKeys().expected_handshake("asana-app", "cred-1")
    assert 0 < await redis.pttl(key) <= 50
    await asyncio.sleep(0.1)
    assert await expectations.offer("asana-app", "cred-1", "too-late") is False


async def test_owner_and_credential_parts_cannot_be_confused(expectations: HandshakeExpectations) -> None:
    await expectations.expect("a:b", "c", ttl_s=30)
    assert await expectations.offer("a", "b:c", "confused") is False
    assert await expectations.offer("a:b", "c", "right") is True


async def test_the_secret_waits_sealed(expectations: HandshakeExpectations, redis: Redis) -> None:
    await expectations.expect("asana-app", "cred-1", ttl_s=30)
    await expectations.offer("asana-app", "cred-1", "plain-secret-value")
    raw = await redis.get(LifecycleKeys().expected_handshake("asana-app", "cred-1"))
    assert raw is not None and b"plain-secret-value" not in raw


# -- end to end: the lifecycle creates an Asana-style subscription --------------------------------------------------


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with serve_in_thread(FakeProvider()) as running_provider:
        yield running_provider


@pytest.fixture
def registry(redis: Redis) -> Registry:
    return make_registry(redis)


@pytest.fixture
def seed(registry: Registry) -> Seed:
    return make_seed(registry)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


def asana_sign(body: bytes, secret: str) -> dict[str, str]:
    return {"x-hook-signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


async def seed_asana_definition(seed: Seed, provider: FakeProvider) -> None:
    """Integration "tasks" (type asana, no secret of its own) with a user-level definition cw-1 whose
    subscription the router creates at the loopback provider; u1's workflow on it is active."""
    auth = {"authorization": "Bearer {{credential.access_token}}"}
    await seed(
        integration=[{"id": "tasks", "type": "asana"}],
        user=[{"id": "u1"}],
        credential=[{"id": "cred-u1", "user": "u1", "integration": "tasks", "values": {"access_token": "tok"}}],
        custom_webhook=[
            {
                "id": "cw-1",
                "integration": "tasks",
                "level": "user",
                "setup": "api_request",
                "verification": {"provider": "asana"},
                "subscription": {
                    "create": {
                        "url": f"{provider.base}/asana/webhooks",
                        "headers": auth,
                        "body": {"data": {"resource": "1", "target": "{{settings.webhookURL}}"}},
                    },
                    "id_path": "data.gid",
                },
            }
        ],
        workflow=[{"id": "wf-1", "integration": "tasks", "trigger_type": "custom", "trigger": "cw-1"}],
        activate=[("wf-1", "u1")],
    )


async def test_only_the_handshake_sent_during_creation_becomes_the_subscriptions_secret(
    redis: Redis, redis_url: str, registry: Registry, seed: Seed, provider: FakeProvider, http: httpx.AsyncClient
) -> None:
    await seed_asana_definition(seed, provider)
    settings = make_settings(redis_url, public_url=BASE)
    lifecycle = Lifecycle(
        SnapshotCache(registry).refresh,
        redis,
        registry.box,
        http,
        BASE,
        holders=(custom_subscriptions,),
        config=LifecycleConfig(api_bases=provider.api_bases),
    )
    body = b'{"events": [{"action": "added", "resource": {"gid": "42"}}]}'
    async with running(settings) as client:

        async def handshake(target: str) -> int:
            assert target == BASE + URL_U1
            answer = await client.post(target.removeprefix(BASE), headers={"x-hook-secret": "from-asana"})
            return answer.status_code

        # Before the router creates anything, a stranger's handshake is answered but only captured.
        early = await client.post(URL_U1, headers={"x-hook-secret": "from-a-stranger"})
        provider.handshake, provider.loop = handshake, asyncio.get_running_loop()
        assert await lifecycle.reconcile_once() == {"created": 1}
        provider.handshake = None
        late = await client.post(URL_U1, headers={"x-hook-secret": "also-a-stranger"})
        genuine = await client.post(URL_U1, content=body, headers=asana_sign(body, "from-asana"))
        forged = [
            await client.post(URL_U1, content=body, headers=asana_sign(body, secret))
            for secret in ("from-a-stranger", "also-a-stranger")
        ]
    assert early.status_code == late.status_code == 200  # a handshake is always answered
    assert early.headers["x-hook-secret"] == "from-a-stranger"
    assert genuine.status_code == 200, genuine.text
    assert [f.status_code for f in forged] == [401, 401]
    assert await lifecycle.secrets_for(OWNER, "cred-u1") == ["from-asana"]
    captures, dropped = await Diagnostics(redis, Keys(), registry.box).captures("cw-1")
    assert [(c["value"], c["activated"]) for c in captures] == [
        ("from-a-stranger", False),
        ("from-asana", True),
        ("also-a-stranger", False),
    ]
    assert dropped == 0
    assert await redis.keys("*:handshake:*") == []  # the expectation is gone once the create call returned


async def test_a_failed_create_closes_its_expectation(
    redis: Redis, registry: Registry, seed: Seed, provider: FakeProvider, http: httpx.AsyncClient
) -> None:
    await seed_asana_definition(seed, provider)
    lifecycle = Lifecycle(
        SnapshotCache(registry).refresh,
        redis,
        registry.box,
        http,
        BASE,
        holders=(custom_subscriptions,),
        config=LifecycleConfig(api_bases=provider.api_bases),
    )
    provider.fail(400)
    outcome = await lifecycle.reconcile_once()
    assert "created" not in outcome
    assert await redis.keys("*:handshake:*") == []
    expectations = HandshakeExpectations(redis, registry.box, LifecycleKeys())
    assert await expectations.offer(OWNER, "cred-u1", "after-the-failure") is False
