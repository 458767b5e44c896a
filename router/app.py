"""create_app(): the Starlette application, its lifespan and its route table."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route

from router import answers
from router.admin.api import create_api
from router.ingress.certificates import ProviderCertificates
from router.ingress.custom import receive_custom
from router.ingress.diagnostics import Diagnostics
from router.ingress.fast_path import FastRoutes
from router.ingress.observe import RequestObserver
from router.ingress.sdk.app_events import trigger_app_event
from router.ingress.sdk.request_triggers import trigger_request
from router.ingress.sdk.resources import routes as resource_routes
from router.ingress.sdk.responses import ResponseWaiter
from router.ingress.sdk.user_state import routes as user_state_routes
from router.ingress.sdk.workflow_state import routes as workflow_state_routes
from router.ingress.shedding import LoadShedding
from router.ingress.webhooks import receive
from router.notifications import producers as notify_producers
from router.platform_api import task_history
from router.runtime import exposition, health
from router.runtime.exposition import Sampler
from router.runtime.health import Readiness
from router.runtime.process import Runtime
from router.runtime.state import State
from router.runtime.supervisor import Task
from router.settings import Settings
from router.ui.app import create_ui
from subscriptions.api_keys import ApiKeys
from subscriptions.audit import AuditLog
from subscriptions.handshakes import HandshakeExpectations
from subscriptions.keys import LifecycleKeys, RegistryKeys
from subscriptions.lifecycle_state import StateStore

logger = logging.getLogger(__name__)


def create_app(settings: Settings) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        runtime = Runtime(settings, run_workers=settings.run_workers)
        redis, keys, registry, cache = runtime.redis, runtime.keys, runtime.registry, runtime.cache
        store = runtime.store
        responses = ResponseWaiter(redis, keys)  # one pub/sub connection for every waiting Request trigger
        try:
            runtime.supervisor.add(Task("response-listener", responses.run_once, budget_s=10, interruptible=True))
            await runtime.start()
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
                "handshakes": HandshakeExpectations(redis, registry.box, LifecycleKeys(settings.prefix)),
                "destination_sender": runtime.sender,
                "readiness": runtime.readiness,
                "metrics": Sampler(store, keys, settings),
                "egress": runtime.egress,
                "api_keys": ApiKeys(redis, RegistryKeys(settings.prefix)),
                "audit": AuditLog(redis, RegistryKeys(settings.prefix)),
                "certificates": ProviderCertificates(runtime.http),
            }
        finally:
            await runtime.supervisor.stop()  # every task's pass in hand finishes first, up to a grace period
            await responses.aclose()
            await runtime.stop()

    api = create_api()
    webhooks = [
        Route("/webhook/triggers/connect/{integration}/{integration_id}", receive, methods=["GET", "HEAD", "POST"]),
        Route("/webhook/triggers/custom/{definition_id}", receive_custom, methods=["GET", "HEAD", "POST"]),
    ]
    routes = [
        *webhooks,
        Route("/projects/{project_id}/sdk/events/trigger", trigger_app_event, methods=["POST"]),
        Route("/projects/{project_id}/sdk/triggers/{workflow_id}", trigger_request, methods=["POST"]),
        *user_state_routes,
        *resource_routes,
        *workflow_state_routes,
        *task_history.routes,
        *health.routes,
        *exposition.routes,
        Mount("/api", api),
        Mount("/ui", create_ui(api)),  # the dashboard: pages over the admin API's own operations
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers=answers.HANDLERS,
        # Observed outermost: the requests load shedding refuses are logged and counted too.
        middleware=[
            Middleware(RequestObserver, log_level=settings.access_log_level),
            Middleware(LoadShedding, limit=settings.max_concurrent_requests),
            # Innermost: the webhook routes, nearly all of the traffic, answered without the router's stack.
            Middleware(FastRoutes, routes=webhooks, handlers=answers.HANDLERS),
        ],
    )
    return app


def create_worker_app(settings: Settings) -> Starlette:
    """`hookrouter worker`: the workers, with only /healthz, /readyz and /metrics served (on HOOKROUTER_HEALTH_PORT).

    uvicorn runs it as it runs the receiver, so both stop the same way: on SIGTERM the lifespan ends, and every
    task finishes the pass in hand (up to a grace period) before the process exits.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Readiness | Sampler]]:
        runtime = Runtime(settings, run_workers=True)
        try:
            await runtime.start()
            yield {"readiness": runtime.readiness, "metrics": Sampler(runtime.store, runtime.keys, settings)}
        finally:
            await runtime.stop()

    return Starlette(routes=[*health.routes, *exposition.routes], lifespan=lifespan)
