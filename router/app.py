"""create_app(): the Starlette application, its lifespan and its route table."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from router.admin import audit as admin_audit
from router.admin import core as admin
from router.admin import delivery as admin_delivery
from router.admin import destinations as admin_destinations
from router.admin import history as admin_history
from router.admin import keys as admin_keys
from router.admin import problems, runner_reports
from router.admin import replay as admin_replay
from router.errors import RouterError, StoreUnavailable, store_outage
from router.ingress.custom import receive_custom
from router.ingress.diagnostics import Diagnostics
from router.ingress.sdk.app_events import trigger_app_event
from router.ingress.sdk.request_triggers import trigger_request
from router.ingress.sdk.responses import ResponseWaiter
from router.ingress.shedding import LoadShedding
from router.ingress.webhooks import receive
from router.notifications import producers as notify_producers
from router.runtime import health
from router.runtime.health import Readiness
from router.runtime.process import Runtime
from router.runtime.state import State
from router.runtime.supervisor import Task
from router.settings import Settings
from subscriptions.api_keys import ApiKeys
from subscriptions.audit import AuditLog
from subscriptions.errors import UnreadableRecord
from subscriptions.handshakes import HandshakeExpectations
from subscriptions.keys import LifecycleKeys, RegistryKeys
from subscriptions.lifecycle_state import StateStore

logger = logging.getLogger(__name__)


def _admin(request: Request) -> bool:
    # Only the admin API answers problem documents: providers and SDKs keep the bodies they rely on.
    path = request.url.path
    return path == "/api" or path.startswith("/api/")


async def _router_error(request: Request, exc: Exception) -> Response:
    # The one place a RouterError becomes an answer: its status, and the body and headers it says.
    if not isinstance(exc, RouterError) or exc.status is None:
        raise exc  # not an answer but a bug: Starlette's 500, with the traceback in the log
    if _admin(request):
        return problems.from_router_error(exc)
    body, headers = exc.answer()
    return JSONResponse(body, status_code=exc.status, headers=headers)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


async def _http_error(request: Request, exc: Exception) -> Response:
    # Starlette's own refusals (no such route, wrong method): a problem document under /api, as before elsewhere.
    if not isinstance(exc, HTTPException):
        raise exc
    if _admin(request) and exc.status_code >= 400:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return problems.problem(exc.status_code, code, exc.detail, headers=exc.headers)
    if exc.status_code in {204, 304}:
        return Response(status_code=exc.status_code, headers=exc.headers)
    return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)


async def _client_gone(request: Request, exc: Exception) -> Response:
    # The client closed the connection mid-body: nobody reads this answer, but the access log does.
    return Response(status_code=400)


async def _redis_error(request: Request, exc: Exception) -> Response:
    # Only an outage is worth a retry; a command Redis refused (WRONGTYPE, a bad argument) will be refused
    # again, so it is a 500 with its traceback in the log, not a 503 that hides a bug as "unavailable".
    if store_outage(exc):
        return await _router_error(request, StoreUnavailable())
    logger.error("Redis refused a command", exc_info=exc, extra={"path": request.url.path})
    if _admin(request):
        return problems.problem(500, "internal_error")
    return JSONResponse({"error": "internal_error"}, status_code=500)


async def _unreadable(request: Request, exc: Exception) -> Response:
    # A registry record this version cannot read (written by a newer one?): say which, never what it holds.
    key = exc.key if isinstance(exc, UnreadableRecord) else ""
    if _admin(request):
        return problems.problem(409, "unreadable_record", record=key)
    return JSONResponse({"error": "unreadable_record", "record": key}, status_code=409)


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
                "egress": runtime.egress,
                "api_keys": ApiKeys(redis, RegistryKeys(settings.prefix)),
                "audit": AuditLog(redis, RegistryKeys(settings.prefix)),
            }
        finally:
            await runtime.supervisor.stop()  # every task's pass in hand finishes first, up to a grace period
            await responses.aclose()
            await runtime.stop()

    routes = [
        Route("/webhook/triggers/connect/{integration}/{integration_id}", receive, methods=["GET", "HEAD", "POST"]),
        Route("/webhook/triggers/custom/{definition_id}", receive_custom, methods=["GET", "HEAD", "POST"]),
        Route("/projects/{project_id}/sdk/events/trigger", trigger_app_event, methods=["POST"]),
        Route("/projects/{project_id}/sdk/triggers/{workflow_id}", trigger_request, methods=["POST"]),
        *health.routes,
        *admin.routes,
        *admin_delivery.routes,
        *admin_history.routes,
        *admin_destinations.routes,
        *admin_replay.routes,
        *runner_reports.routes,
        *admin_keys.routes,
        *admin_audit.routes,
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            HTTPException: _http_error,
            RedisError: _redis_error,
            RouterError: _router_error,
            ClientDisconnect: _client_gone,
            UnreadableRecord: _unreadable,
        },
        middleware=[Middleware(LoadShedding, limit=settings.max_concurrent_requests)],
    )
    return app


def create_worker_app(settings: Settings) -> Starlette:
    """`hookrouter worker`: the workers, with only /healthz and /readyz served (on HOOKROUTER_HEALTH_PORT).

    uvicorn runs it as it runs the receiver, so both stop the same way: on SIGTERM the lifespan ends, and every
    task finishes the pass in hand (up to a grace period) before the process exits.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Readiness]]:
        runtime = Runtime(settings, run_workers=True)
        try:
            await runtime.start()
            yield {"readiness": runtime.readiness}
        finally:
            await runtime.stop()

    return Starlette(routes=health.routes, lifespan=lifespan)
