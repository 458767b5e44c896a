"""How an exception becomes an answer: one handler per exception family, shared by the service's Starlette app and
the admin API's FastAPI app mounted inside it (a mounted app answers its own exceptions, so both register these)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any

from redis.exceptions import RedisError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from router.admin import problems
from router.errors import RouterError, StoreUnavailable, store_outage
from subscriptions.errors import UnreadableRecord

logger = logging.getLogger(__name__)


_TASK_HISTORY = re.compile(r"^/projects/[^/]+/task-history(/|$)")
# The SDK's user-state endpoints were built answering problem documents (with ``error``, as the SDK reads it).
_USER_STATE = re.compile(r"^/projects/[^/]+/sdk/(me|credentials|integrations|resources|workflows)(/|$)")


def _admin(request: Request) -> bool:
    # Only the admin API, the Task History API (which takes its keys) and the SDK's user-state endpoints answer
    # problem documents: providers and the older SDK endpoints keep the bodies they rely on.
    path = request.url.path
    return path == "/api" or path.startswith("/api/") or any(r.match(path) for r in (_TASK_HISTORY, _USER_STATE))


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


Handler = Callable[[Request, Any], Coroutine[Any, Any, Response]]

HANDLERS: dict[type[Exception] | int, Handler] = {
    HTTPException: _http_error,
    RedisError: _redis_error,
    RouterError: _router_error,
    ClientDisconnect: _client_gone,
    UnreadableRecord: _unreadable,
}
