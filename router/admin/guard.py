"""Who may call an admin route: every route is an ``AdminRoute``, which authenticates the caller, checks the
scope the route's ``Rule`` names for this request, and writes each request that may change something to the
audit trail with the status it was answered, refusals and failures included.

The check runs before FastAPI reads parameters or the body, so a caller without a credential learns nothing
about what a valid request would look like.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from router import strict_json
from router.admin.problems import STANDARD_RESPONSES, invalid_body, problem
from router.admin.scopes import Rule
from router.runtime.state import app_state
from subscriptions.api_keys import OPERATOR, PREFIX, allows

F = TypeVar("F", bound=Callable[..., Any])
logger = logging.getLogger(__name__)

# Every admin endpoint → the rule it declared; an AdminRoute refuses to exist without one (fail closed).
RULES: dict[Callable[..., Any], Rule] = {}


def admin(rule: Rule) -> Callable[[F], F]:
    """Declare the scope an endpoint needs; put it below the route decorator so it runs first."""

    def declare(endpoint: F) -> F:
        RULES[endpoint] = rule
        return endpoint

    return declare


@dataclass(frozen=True, slots=True)
class Caller:
    actor: str  # what the audit trail names: an API key's id, or "admin-token"
    scopes: tuple[str, ...]


async def authenticate(request: Request) -> Caller | str:
    """Who is calling, or the error code to answer 401 with."""
    state = app_state(request)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return "unauthorized"
    if given.startswith(PREFIX):
        key = await state["api_keys"].authenticate(given)
        return "unauthorized" if key is None else Caller(key.id, key.scopes)
    token = state["settings"].admin_token
    if token is None:
        return "admin_api_disabled"
    # The environment's admin token is the operator's bootstrap key.
    if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
        return "unauthorized"
    return Caller("admin-token", (OPERATOR,))


async def refusal(request: Request, rule: Rule, scopes: tuple[str, ...]) -> Response | None:
    if OPERATOR in scopes:  # the operator needs no lookup to find the project
        return None
    required, hidden = await rule.required(request)
    if allows(scopes, required):
        return None
    if hidden and not allows(scopes, hidden):
        return problem(404, "not_found")
    return problem(403, "insufficient_scope", f"this request needs the scope {required}", required=required)


def _status_of(exc: Exception) -> int:
    if isinstance(exc, HTTPException):
        return exc.status_code
    if isinstance(exc, RequestValidationError):
        return 422
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else 500


class AdminRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        rule = RULES.get(endpoint)
        if rule is None:
            raise TypeError(f"{endpoint.__qualname__} declares no scope rule: decorate it with @admin(rule)")
        self.rule = rule
        kwargs["responses"] = {**STANDARD_RESPONSES, **(kwargs.get("responses") or {})}
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()
        rule, name = self.rule, self.endpoint.__name__
        writes = bool((self.methods or set()) - {"GET", "HEAD"})

        async def guarded(request: Request) -> Response:
            caller = await authenticate(request)
            if isinstance(caller, str):
                return problem(401, caller, headers={"www-authenticate": "Bearer"})
            request.state.caller = caller
            try:
                response: Response = (
                    await refusal(request, rule, caller.scopes) or await _not_strict(request) or await handler(request)
                )
            except Exception as exc:
                if writes:
                    await app_state(request)["audit"].record(caller.actor, name, request.url.path, _status_of(exc))
                raise
            if writes:
                await app_state(request)["audit"].record(caller.actor, name, request.url.path, response.status_code)
                if response.status_code < 400:
                    await _read_your_writes(request)
            return response

        return guarded


async def _not_strict(request: Request) -> Response | None:
    """422 for a JSON body only Python's parser takes (NaN, a lone surrogate, not UTF-8). FastAPI would read it
    with ``json`` and hand a route a float it cannot answer or a str it cannot store; a route's ``Any`` member
    (a runner's step output) keeps it as sent."""
    if request.method in ("GET", "HEAD"):
        return None
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        return None
    body = await request.body()
    if not body:
        return None
    try:
        strict_json.loads(body)
    except strict_json.NotStrictJson as exc:
        return invalid_body([f"body: {exc}"], status=422)
    except (ValueError, RecursionError):
        return None  # not JSON at all: FastAPI or the route answers it, as it always did
    return None


async def _read_your_writes(request: Request) -> None:
    # A change is seen by this process's next request (a PUT then a test of the same destination), not only
    # after the background refresh; other processes see it within the refresh interval, as documented.
    try:
        await app_state(request)["cache"].refresh()
    except RedisError:
        logger.warning("registry refresh after an admin write failed; the background refresh catches up")


def admin_router(**options: Any) -> APIRouter:
    """A route group's router: its routes are AdminRoutes (a plain APIRouter's would be unguarded). A JSON body
    sent without a Content-Type is read, as the admin API always did and runners rely on."""
    return APIRouter(route_class=AdminRoute, **{"strict_content_type": False, **options})
