"""The admin API describes itself: OpenAPI 3.1 covering every route, and docs that load nothing from elsewhere."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount

from router.app import create_app
from tests.router.conftest import make_settings, running

pytestmark = pytest.mark.anyio


def _admin_routes(redis_url: str) -> list[APIRoute]:
    app = create_app(make_settings(redis_url))
    api = next(r for r in app.routes if isinstance(r, Mount) and r.path == "/api")
    return [r for r in api.routes if isinstance(r, APIRoute)]


async def test_the_schema_is_openapi_31_and_names_every_route(redis_url: str) -> None:
    async with running(make_settings(redis_url)) as http:
        reply = await http.get("/api/openapi.json")  # no credential: the schema is public
    assert reply.status_code == 200
    schema = reply.json()
    assert schema["openapi"].startswith("3.1.")
    assert schema["servers"] == [{"url": "/api"}]
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    documented = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    routes = {(m, re.sub(r":\w+}", "}", r.path)) for r in _admin_routes(redis_url) for m in r.methods or ()}
    assert len(routes) >= 33
    assert routes == documented


async def test_every_operation_documents_its_problem_answers(redis_url: str) -> None:
    async with running(make_settings(redis_url)) as http:
        schema = (await http.get("/api/openapi.json")).json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            answers = operation["responses"]
            for status in ("401", "403", "404", "422", "503"):
                content = answers[status]["content"]
                assert list(content) == ["application/problem+json"], (method, path, status)
                assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert {"type", "title", "status", "code"} <= set(schema["components"]["schemas"]["Problem"]["required"])


async def test_the_docs_page_loads_only_local_assets(redis_url: str) -> None:
    async with running(make_settings(redis_url)) as http:
        page = await http.get("/api/docs")
        assert page.status_code == 200
        sources = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
        urls = re.findall(r"""url:\s*['"]([^'"]+)['"]""", page.text)
        assert sources and urls == ["/api/openapi.json"]
        assert [s for s in sources if not s.startswith("/api/docs/assets/")] == []
        for source in sources:
            asset = await http.get(source)
            assert asset.status_code == 200, source
            assert len(asset.content) > 1000


async def test_every_schema_has_a_plain_name(redis_url: str) -> None:
    # Two models of one name get module-qualified names (router__admin__x__Page), which generated clients carry.
    async with running(make_settings(redis_url)) as http:
        schema = (await http.get("/api/openapi.json")).json()
    names = list(schema["components"]["schemas"])
    assert len(names) > 50
    assert [n for n in names if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", n) or "__" in n] == []
