from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr
from redis.asyncio import Redis

from router.app import create_app
from router.history import stats
from router.routing.worker import RoutingWorker, WorkerConfig
from router.settings import Settings
from router.storage.keys import ROUTING_GROUP, Keys
from router.storage.store import EventStore
from subscriptions.config import apply
from subscriptions.crypto import SecretBox
from subscriptions.models import RECORD_TYPES, activation_id
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache

MASTER_KEY = base64.b64encode(bytes(range(32))).decode()
ADMIN_TOKEN = "test-admin-token-0123456789abcdefghij"
SLACK_SECRET = "slack-signing-secret"
TEAM = "T0001"


def make_settings(redis_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "master_key": SecretStr(MASTER_KEY),
        "admin_token": SecretStr(ADMIN_TOKEN),
        "run_workers": False,
        "consumer_name": "test",
        "registry_refresh_s": 0.05,
        # The loopback sinks tests deliver to are internal addresses: allowed here, as an operator would.
        "egress_allow": "127.0.0.0/8,::1",
        "public_url": "http://hooks.test",  # the base_url of running(): URL-signing schemes check against it
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return make_settings(redis_url)


def make_registry(redis: Redis) -> Registry:
    return Registry(redis, SecretBox(base64.b64decode(MASTER_KEY)))


@pytest.fixture
def registry(redis: Redis) -> Registry:
    return make_registry(redis)


Seed = Callable[..., Awaitable[None]]


def make_seed(registry: Registry) -> Seed:
    """seed(integration=[{...}], user=[...], ..., activate=[("wf", "user")]) writes registry records."""

    async def _seed(activate: list[tuple[str, str]] | None = None, **kinds: list[dict[str, Any]]) -> None:
        records = []
        for kind, items in kinds.items():
            for item in items:
                data = item if kind == "project" else {"project": "p1", **item}
                records.append(RECORD_TYPES[kind].model_validate(data))
        for wf, user in activate or []:
            records.append(
                RECORD_TYPES["activation"].model_validate(
                    {"id": activation_id(wf, user), "project": "p1", "workflow": wf, "user": user}
                )
            )
        await apply(registry, records)

    return _seed


@pytest.fixture
def seed(registry: Registry) -> Seed:
    return make_seed(registry)


async def seed_slack(seed: Seed, *, users: int = 1, trigger: str = "*") -> None:
    """One Slack integration, `users` users each with a credential on TEAM, one workflow active for all."""
    ids = [f"u{n}" for n in range(1, users + 1)]
    await seed(
        integration=[{"id": "slack-app", "type": "slack", "secrets": [SLACK_SECRET]}],
        user=[{"id": u} for u in ids],
        credential=[{"id": f"cred-{u}", "user": u, "integration": "slack-app", "provider_id": TEAM} for u in ids],
        workflow=[{"id": "wf-1", "name": "On message", "integration": "slack-app", "trigger": trigger}],
        activate=[("wf-1", u) for u in ids],
    )


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan run (the registry snapshot is loaded then: seed before entering)."""
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hooks.test") as http:
            yield http


def make_worker(redis: Redis, registry: Registry, *, consumer: str = "w1", **config: Any) -> RoutingWorker:
    store = EventStore(redis, maxlen=100_000, group=ROUTING_GROUP, consumer=consumer, counted=stats.counted(Keys()))
    cfg = WorkerConfig(**{"block_ms": 0, **config})
    return RoutingWorker(store, SnapshotCache(registry, refresh_s=0.05), Keys(), cfg)


SLACK_URL = "/webhook/triggers/connect/slack/slack-app"


async def xrange_all(redis: Redis, stream: str, *, after: str = "") -> list[tuple[bytes, dict[bytes, bytes]]]:
    """Every entry of a stream (after the id ``after``, if given), typed (redis-py types replies as a RESP2/RESP3
    union)."""
    start = f"({after}" if after else "-"
    reply: list[tuple[bytes, dict[bytes, bytes]]] = await redis.xrange(stream, min=start)  # type: ignore[assignment]
    return reply
