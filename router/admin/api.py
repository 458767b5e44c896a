"""The admin API application: FastAPI, mounted at ``/api`` by the service, so its schema and validation come
from the pydantic models each route declares while the ingress and SDK routes stay plain Starlette.

``/api/openapi.json`` is the OpenAPI 3.1 schema and ``/api/docs`` the interactive docs; both are public (they
describe, never show, data) and the docs' assets are served from the installed package, not from a CDN.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from router import answers
from router.admin import audit, core, delivery, destinations, history, keys, records, replay, runner_reports, stats
from router.admin.guard import AdminRoute
from router.admin.problems import MEDIA_TYPE, invalid_body, problem

# Each module holds one route group: an APIRouter named ``router`` (or, until it has one, Starlette ``routes``).
MODULES: tuple[ModuleType, ...] = (
    core,
    keys,
    audit,
    delivery,
    destinations,
    history,
    stats,
    replay,
    runner_reports,
    records,
)
ASSETS = Path(fastapi_offline.__file__).parent / "static"
TITLE = "hookrouter admin API"
DESCRIPTION = """Manage the registry (projects, integrations, users, credentials, workflows, activations, ...),
API keys and alerting destinations; search, inspect and replay stored events, executions and deliveries.

Every route takes `Authorization: Bearer <key>`: an API key (`hrk_...`, scoped to projects or `operator`) or the
environment's admin token (the operator's bootstrap key). Errors are RFC 9457 problem documents with a stable
`code`; lists answer `{data, next, total}` and take `?limit=&cursor=`."""


def _field(error: Any) -> str:
    where, *path = tuple(error["loc"])
    if error.get("type") == "json_invalid":
        return "body"  # its location is a byte offset into the body, not a member
    return ".".join(str(p) for p in path) or str(where)


async def _invalid(request: Request, exc: Exception) -> Response:
    # A body that fails its model is the caller's 422; a parameter that does, a 400 as it always was.
    if not isinstance(exc, RequestValidationError):
        raise exc
    errors = list(exc.errors())
    problems = [f"{_field(e)}: {e['msg']}" for e in errors]
    if any(tuple(e["loc"])[:1] == ("body",) for e in errors):
        return invalid_body(problems, status=422)
    fields = [{"field": _field(e), "message": e["msg"]} for e in errors]
    return problem(400, "bad_parameter", "; ".join(problems), error="; ".join(problems), errors=fields)


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    # FastAPI makes one route per method, and the router refuses with the methods of the first route whose path
    # matched: `Allow` must name every method the path takes (RFC 9110), GET's HEAD included.
    if not isinstance(exc, HTTPException):
        raise exc
    methods = {
        m
        for r in request.app.routes
        if isinstance(r, APIRoute) and r.matches(request.scope)[0] != Match.NONE
        for m in r.methods or ()
    }
    if "GET" in methods:
        methods.add("HEAD")
    allow = {"Allow": ", ".join(sorted(methods))} if methods else {}
    return await answers.HANDLERS[HTTPException](
        request, HTTPException(405, exc.detail, {**(exc.headers or {}), **allow})
    )


class HeadAsGet:
    """HEAD is GET without the body (RFC 9110): every GET operation answers it, through the same checks, as the
    admin routes did before they were FastAPI's (which routes HEAD nowhere)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            await send({**message, "body": b""} if message["type"] == "http.response.body" else message)

        await self.app({**scope, "method": "GET"}, receive, without_body)


def _schema(api: FastAPI) -> dict[str, Any]:
    if api.openapi_schema is None:
        schema = get_openapi(
            title=TITLE, version=api.version, description=DESCRIPTION, routes=api.routes, servers=api.servers
        )
        for module in MODULES:  # schemas a group's routes refer to outside FastAPI's models (request bodies it reads)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(getattr(module, "SCHEMAS", {}))
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "An API key (hrk_...) or the admin token"}
        }
        schema["security"] = [{"bearer": []}]
        _problems_as_problem_json(schema)
        api.openapi_schema = schema
    return api.openapi_schema


def _problems_as_problem_json(schema: dict[str, Any]) -> None:
    # FastAPI files every documented answer under application/json; errors are application/problem+json.
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, answer in operation.get("responses", {}).items():
                content = answer.get("content", {})
                if str(status)[0] in "45" and "application/json" in content:
                    content[MEDIA_TYPE] = content.pop("application/json")


def _docs_routes(api: FastAPI) -> None:
    api.mount("/docs/assets", StaticFiles(directory=ASSETS), name="docs-assets")

    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{TITLE} - docs",
            swagger_js_url=f"{root}/docs/assets/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs/assets/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs/assets/favicon.png",
        )

    api.add_route("/docs", docs, include_in_schema=False)


def create_api(version: str = "1") -> FastAPI:
    api = FastAPI(
        title=TITLE,
        version=version,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        servers=[{"url": "/api"}],
        exception_handlers={**answers.HANDLERS, RequestValidationError: _invalid, 405: _method_not_allowed},
    )
    api.add_middleware(HeadAsGet)
    api.router.route_class = AdminRoute
    api.openapi = lambda: _schema(api)  # type: ignore[method-assign]
    _docs_routes(api)
    for module in MODULES:
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            # The group's routes themselves (no prefix to add): the app's route list stays flat, so what it serves
            # is what a test walking api.routes checks.
            api.router.routes.extend(router.routes)
        else:  # a module still declaring Starlette routes: its endpoints take the Request and parse it themselves
            for route in module.routes:
                _add_starlette_route(api, route)
    unguarded = [r.path for r in api.routes if isinstance(r, APIRoute) and not isinstance(r, AdminRoute)]
    if unguarded:  # fail closed: a route group built on a plain APIRouter would answer without any check
        raise TypeError(f"admin routes without a guard: {unguarded}")
    return api


def _add_starlette_route(api: FastAPI, route: Route) -> None:
    methods = sorted((route.methods or {"GET"}) - {"HEAD"})
    # Its endpoint takes only the Request, so FastAPI sees no parameters: the path's are documented here, or the
    # schema would name path parameters no operation defines (an invalid schema no client can call).
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in route.param_convertors
    ]
    extra = {"parameters": parameters} if parameters else None
    api.add_api_route(
        route.path.removeprefix("/api"), route.endpoint, methods=methods, name=route.name, openapi_extra=extra
    )
