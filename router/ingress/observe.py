"""What every HTTP request leaves behind for operators: a request id, a trace context, one log line, and its
count and duration in ``/metrics``.

A plain ASGI middleware, outermost, so that requests the load shedding refuses and answers that an error
handler wrote are seen too; it never touches the body.

- Request id: the caller's ``X-Request-Id`` when it is sane (1 to 128 characters of ``A-Za-z0-9._:-``), else a
  fresh one; echoed in the answer's ``X-Request-Id``, on every log line written while the request is handled,
  and stored with the events it brings (their trigger jobs and deliveries send it on).
- Trace context: a valid W3C ``traceparent`` continues its trace (same trace id, a new span id for this hop);
  otherwise a new trace starts. Stored and sent on to HTTP targets like the request id.
- The log line (``router.access``, at ``HOOKROUTER_ACCESS_LOG_LEVEL``): method, route template, path (never the
  query string: some providers put secrets there), status, duration, integration, request id, and what the
  endpoint added with ``on_access_line`` (an accepted webhook's stored ids). Never a header value or a body.
- Metrics labels are bounded: the route's template (``unmatched`` when no route matched, never the raw path)
  and the integration only when the endpoint found it in the registry (``tag_integration``).
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from router import logs, metrics
from router.storage import timing

_INTEGRATION = "hookrouter.integration"
_CONTEXT = "hookrouter.request"
_ACCESS_LINE = "hookrouter.access_line"  # the fields an endpoint adds to the access line, while it is on
UNMATCHED = "unmatched"
MAX_LOGGED_PATH = 200
_SANE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
# W3C Trace Context, version 00: 32 hex trace id, 16 hex parent id, 2 hex flags; all-zero ids are invalid.
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")

access_log = logging.getLogger("router.access")


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    traceparent: str

    def fields(self) -> dict[str, str]:
        """As the stored event's fields (``IngestEvent(**context.fields())``)."""
        return {"request_id": self.request_id, "traceparent": self.traceparent}


def observed(request: Request) -> RequestContext:
    """The request id and trace context of ``request`` (fresh ones when the middleware did not run)."""
    context: RequestContext | None = request.scope.get(_CONTEXT)
    return context if context is not None else RequestContext(new_request_id(), continue_trace(None))


def tag_integration(request: Request, integration_id: str) -> None:
    """Name the registered integration a request is for, for its metrics (an id the registry bounds)."""
    request.scope[_INTEGRATION] = integration_id


def on_access_line(request: Request, **fields: object) -> bool:
    """Add ``fields`` to the request's access line; False when no access line will be written (the observer did not
    run, or its level is off), so the endpoint logs them on a line of its own. One line per accepted webhook
    instead of two: formatting and writing a line is a tenth of a webhook's CPU."""
    extra: dict[str, object] | None = request.scope.get(_ACCESS_LINE)
    if extra is None:
        return False
    extra.update(fields)
    return True


def count_stored(integration_id: str, stored: int, duplicates: int) -> None:
    if stored:
        _stored_counter(integration_id).inc(stored)
    if duplicates:
        metrics.DEDUP_HITS.labels(integration_id).inc(duplicates)


@functools.lru_cache(maxsize=4096)
def _stored_counter(integration_id: str) -> Any:
    # Once per integration (ids the registry bounds): labels() on every webhook cost more than the count.
    return metrics.EVENTS_STORED.labels(integration_id)


def new_request_id() -> str:
    return secrets.token_hex(16)


def sane_request_id(value: str | None) -> str | None:
    return value if value is not None and _SANE_ID.fullmatch(value) else None


def continue_trace(traceparent: str | None, fresh: str | None = None) -> str:
    """This hop's ``traceparent``: the caller's trace with a new span id, or a new sampled trace.

    ``fresh``, if given, is 48 random hex digits to take the span id (16) and a new trace id (32) from: one
    read of the system's random source per request instead of one per id.
    """
    fresh = fresh or secrets.token_hex(24)
    span = fresh[:16]
    match = _TRACEPARENT.fullmatch(traceparent.strip().lower()) if traceparent else None
    if match is not None and match[1] != "0" * 32 and match[2] != "0" * 16:
        return f"00-{match[1]}-{span}-{match[3]}"
    return f"00-{fresh[16:48]}-{span}-01"


def route_template(scope: Scope, root_path: str) -> str:
    """The template of the route that answered (with its mount's prefix), after the app has run on ``scope``."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    mounted = str(scope.get("root_path", ""))[len(root_path) :]
    return mounted + path


def redis_operation(path: str) -> str:
    """What a request's Redis round trips count as: ``ingest`` for webhooks, ``probe`` for probes and scrapes,
    ``api`` for the rest (the appends themselves are the store's ``ingest``, whoever asked)."""
    if path.startswith("/webhook/"):
        return "ingest"
    return "probe" if path in _PROBES else "api"


_PROBES = frozenset({"/healthz", "/readyz", "/metrics"})


class RequestObserver:
    def __init__(self, app: ASGIApp, *, log_level: str = "INFO") -> None:
        self.app = app
        self.level = logging.getLevelName(log_level.upper())
        # Metric children by label values (bounded: route templates, registered integrations, status codes):
        # looking one up in a dict costs less than prometheus-client's labels() on every request.
        self._requests: dict[tuple[str, str, int], Any] = {}
        self._durations: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root_path = str(scope.get("root_path", ""))
        headers = dict(_header_pairs(scope))
        fresh = secrets.token_hex(40)  # the request id (if the caller sent none), the span id and a trace id
        request_id = sane_request_id(headers.get("x-request-id")) or fresh[48:]
        scope[_CONTEXT] = RequestContext(request_id, continue_trace(headers.get("traceparent"), fresh[:48]))
        header = (b"x-request-id", request_id.encode())
        status = 500  # an exception that escapes the app is answered 500 by Starlette's outermost handler
        logged = access_log.isEnabledFor(self.level)
        added: dict[str, object] = {}
        if logged:
            scope[_ACCESS_LINE] = added

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                # Appended, not set through MutableHeaders: no answer of the app carries its own X-Request-Id.
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = logs.REQUEST_ID.set(request_id)
        try:
            with timing.operation(redis_operation(str(scope["path"]))):
                await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope, root_path)
            integration = str(scope.get(_INTEGRATION, ""))
            self._count(route, integration, status, elapsed)
            if logged:
                access_log.log(
                    self.level,
                    "request",
                    extra={
                        "method": scope["method"],
                        "route": route,
                        "path": str(scope["path"])[:MAX_LOGGED_PATH],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "integration": integration,
                        **added,
                    },
                )
            logs.REQUEST_ID.reset(token)

    def _count(self, route: str, integration: str, status: int, elapsed: float) -> None:
        requests = self._requests.get((route, integration, status))
        if requests is None:
            requests = self._requests[route, integration, status] = metrics.REQUESTS.labels(
                route, integration, str(status)
            )
        requests.inc()
        durations = self._durations.get(route)
        if durations is None:
            durations = self._durations[route] = metrics.REQUEST_SECONDS.labels(route)
        durations.observe(elapsed)


def _header_pairs(scope: Scope) -> list[tuple[str, str]]:
    wanted = (b"x-request-id", b"traceparent")
    return [(name.decode(), value.decode("latin-1")) for name, value in scope["headers"] if name in wanted]
