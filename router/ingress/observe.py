"""What every HTTP request leaves behind for operators: its count and duration in ``/metrics``.

A plain ASGI middleware, outermost, so that requests the load shedding refuses and answers that an error
handler wrote are counted too; it never touches the body. Labels are bounded: the route's template
(``/webhook/triggers/connect/{integration}/{integration_id}``, ``unmatched`` when no route matched, never the
raw path) and the integration only when the endpoint found it in the registry (``tag_integration``).
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from router import metrics

_INTEGRATION = "hookrouter.integration"
UNMATCHED = "unmatched"


def tag_integration(request: Request, integration_id: str) -> None:
    """Name the registered integration a request is for, for its metrics (an id the registry bounds)."""
    request.scope[_INTEGRATION] = integration_id


def route_template(scope: Scope, root_path: str) -> str:
    """The template of the route that answered (with its mount's prefix), after the app has run on ``scope``."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    mounted = str(scope.get("root_path", ""))[len(root_path) :]
    return mounted + path


def count_stored(integration_id: str, stored: int, duplicates: int) -> None:
    if stored:
        metrics.EVENTS_STORED.labels(integration_id).inc(stored)
    if duplicates:
        metrics.DEDUP_HITS.labels(integration_id).inc(duplicates)


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root_path = str(scope.get("root_path", ""))
        status = 500  # an exception that escapes the app is answered 500 by Starlette's outermost handler

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = route_template(scope, root_path)
            metrics.REQUESTS.labels(route, str(scope.get(_INTEGRATION, "")), str(status)).inc()
            metrics.REQUEST_SECONDS.labels(route).observe(time.perf_counter() - started)
