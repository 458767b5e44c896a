"""create_app(): the Starlette application, its lifespan and its route table."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router import (
    admin,
    admin_delivery,
    admin_destinations,
    admin_history,
    admin_replay,
    notify_producers,
    redis_client,
)
from router.app_events import trigger_app_event
from router.custom import receive_custom
from router.destination_delivery import DestinationSender
from router.destinations.email import SmtpConfig
from router.diagnostics import Diagnostics
from router.errors import StoreUnavailable
from router.ingest import receive
from router.keys import ROUTING_GROUP, Keys
from router.limits import Limiter
from router.notifications import Notifier
from router.request_triggers import trigger_request
from router.responses import ResponseWaiter
from router.retry import RetryPolicy
from router.settings import Settings
from router.state import State, app_state
from router.store import EventStore
from router.workers import Workers, cancel
from subscriptions.crypto import SecretBox, parse_master_key
from subscriptions.keys import LifecycleKeys, RegistryKeys
from subscriptions.lifecycle_state import StateStore
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache

logger = logging.getLogger(__name__)


def connect(settings: Settings) -> Redis:
    if not settings.redis_url:
        raise ValueError("redis_url is not set (the CLI starts an embedded Redis when REDIS_URL is unset)")
    return redis_client.connect(settings.redis_url)


def build_registry(settings: Settings, redis: Redis) -> Registry:
    if settings.master_key is None:
        raise ValueError("HOOKROUTER_MASTER_KEY is not set: it encrypts webhook secrets at rest")
    box = SecretBox(parse_master_key(settings.master_key.get_secret_value()))
    return Registry(redis, box, RegistryKeys(settings.prefix))


async def health(request: Request) -> Response:
    try:
        await app_state(request)["store"].redis.ping()
    except (RedisError, OSError):
        return JSONResponse({"status": "unavailable", "redis": "down"}, status_code=503)
    return JSONResponse({"status": "ok"})


async def _unavailable(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": "store_unavailable"}, status_code=503, headers={"retry-after": "5"})


def create_app(settings: Settings) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        redis = connect(settings)
        keys = Keys(settings.prefix)
        registry = build_registry(settings, redis)
        cache = SnapshotCache(registry, refresh_s=settings.registry_refresh_s)
        store = EventStore(redis, maxlen=settings.stream_maxlen, group=ROUTING_GROUP, consumer=settings.consumer_name)
        try:
            await cache.refresh()
            refresher = asyncio.create_task(cache.run())
            workers = Workers(settings, redis, registry.box, cache, keys) if settings.run_workers else None
            if workers:
                await workers.start()
            responses = ResponseWaiter(redis, keys)  # one pub/sub connection for every waiting Request trigger
            listener = asyncio.create_task(responses.run())
            admin_http = httpx.AsyncClient(follow_redirects=False)  # the admin API's own calls (destination tests)
            sender = DestinationSender(
                redis,
                keys,
                Limiter(redis, keys),
                admin_http,
                Notifier(store, keys),
                SmtpConfig.from_settings(settings),
                auto_disable_after=settings.destination_auto_disable_after,
                retry=RetryPolicy.parse(settings.retry_schedule),
            )
            yield {
                "settings": settings,
                "store": store,
                "registry": registry,
                "cache": cache,
                "keys": keys,
                "diagnostics": Diagnostics(
                    redis,
                    keys,
                    registry.box,
                    burst=notify_producers.burst_detector(settings, redis, keys, store, cache),
                ),
                "responses": responses,
                "subscription_secrets": StateStore(redis, registry.box, LifecycleKeys(settings.prefix)),
                "destination_sender": sender,
            }
            await cancel(listener)
            await admin_http.aclose()
            if workers:
                await workers.stop()
            await cancel(refresher)
        finally:
            await redis.aclose()

    routes = [
        Route("/webhook/triggers/connect/{integration}/{integration_id}", receive, methods=["GET", "HEAD", "POST"]),
        Route("/webhook/triggers/custom/{definition_id}", receive_custom, methods=["GET", "HEAD", "POST"]),
        Route("/projects/{project_id}/sdk/events/trigger", trigger_app_event, methods=["POST"]),
        Route("/projects/{project_id}/sdk/triggers/{workflow_id}", trigger_request, methods=["POST"]),
        Route("/healthz", health),
        *admin.routes,
        *admin_delivery.routes,
        *admin_history.routes,
        *admin_destinations.routes,
        *admin_replay.routes,
        *notify_producers.routes,
    ]
    return Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={RedisError: _unavailable, StoreUnavailable: _unavailable}
    )
