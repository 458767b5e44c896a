"""Every operation the admin API's schema documents answers 401 to a caller without the admin credential, and
nothing else under /api is served but the schema and the docs, which are public."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from router.app import create_app
from router.settings import Settings
from tests.router.conftest import ADMIN_TOKEN, make_settings, running
from tests.router.schema_walk import operations, published

pytestmark = pytest.mark.anyio

# A harmless value for any path parameter: it matches every Starlette convertor in use (str, int, path).
PARAM = re.compile(r"\{[^}]+\}")
WRONG = [
    {},
    {"authorization": "Bearer"},
    {"authorization": "Bearer "},
    {"authorization": f"Bearer {ADMIN_TOKEN[:-1]}"},  # all but the last character
    {"authorization": f"Bearer {ADMIN_TOKEN[:-1]}{chr(ord(ADMIN_TOKEN[-1]) + 1)}"},  # same length, one off
    {"authorization": f"Bearer {ADMIN_TOKEN}x"},
    {"authorization": f"Basic {ADMIN_TOKEN}"},  # the right secret under another scheme
    {"authorization": ADMIN_TOKEN},
    {"x-admin-token": ADMIN_TOKEN},
]


def endpoints(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) for every route, mounts included, path parameters filled in."""
    for route in routes:
        if not getattr(route, "include_in_schema", True) or isinstance(getattr(route, "app", None), StaticFiles):
            continue  # the API's documentation: public by design (tests/router/test_admin_openapi.py)
        if isinstance(route, Mount):
            inner = route.routes
            if inner:
                yield from endpoints(inner, prefix + route.path)
            else:  # a mounted ASGI app: its own routes are not listed, so probe its root
                for method in ("GET", "POST"):
                    yield method, PARAM.sub("1", prefix + route.path) + "/"
        elif isinstance(route, Route):
            for method in sorted(route.methods or {"GET"}):
                yield method, PARAM.sub("1", prefix + route.path)


async def refusals(settings: Settings) -> tuple[list[tuple[str, str]], list[str]]:
    """The operations the admin API's schema documents, and every answer to a wrong credential that is not 401."""
    app = create_app(settings)
    wrong: list[str] = []
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hooks.test") as http:
            api = operations(await published(http))
            for method, path in api:
                for headers in WRONG:
                    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
                    reply = await http.request(method, path, headers=headers, content=body)
                    if reply.status_code != 401 or (method != "HEAD" and "error" not in reply.json()):
                        wrong.append(f"{method} {path} {sorted(headers)}: {reply.status_code}")
    return api, wrong


async def test_every_api_route_requires_the_admin_token(redis_url: str) -> None:
    api, wrong = await refusals(make_settings(redis_url))
    assert len(api) >= 30, api  # the enumeration found the admin API, not an empty list that passes vacuously
    assert {("POST", "/api/executions/1/failure"), ("POST", "/api/credentials/1/invalidate")} <= set(api)
    assert wrong == []


async def test_every_api_route_is_closed_when_no_admin_token_is_set(redis_url: str) -> None:
    api, wrong = await refusals(make_settings(redis_url, admin_token=None))
    assert len(api) >= 30, api
    assert wrong == []


async def test_nothing_under_api_escapes_the_schema_but_its_documentation(redis_url: str) -> None:
    # The refusal walks follow the schema: a route the app serves under /api outside it would go unchecked.
    settings = make_settings(redis_url)
    async with running(settings) as http:
        documented = set(operations(await published(http)))
    served = {(m, p) for m, p in endpoints(create_app(settings).routes) if p == "/api" or p.startswith("/api/")}
    assert served - documented == set()
    public = [r for r in api_app(settings).routes if not isinstance(r, APIRoute)]
    assert sorted(getattr(r, "path", "") for r in public) == ["/docs", "/docs/assets", "/openapi.json"]


def api_app(settings: Settings) -> Mount:
    return next(r for r in create_app(settings).routes if isinstance(r, Mount) and r.path == "/api")
