"""Checks that an admin route group's OpenAPI description is complete and that real answers fit it."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter
from starlette.routing import Match


def route_of(router: APIRouter, method: str, path: str) -> APIRoute:
    """The route of ``router`` that serves ``method path`` (a path under /api)."""
    scope = {"type": "http", "method": method, "path": path.removeprefix("/api")}
    for route in router.routes:
        if isinstance(route, APIRoute) and route.matches(scope)[0] == Match.FULL:
            return route
    raise AssertionError(f"no route of this group serves {method} {path}")


def answer_model(route: APIRoute, status: int) -> Any:
    """The model ``route`` declares for ``status``; AssertionError when it does not document that status."""
    if status == (route.status_code or 200):
        return route.response_model
    declared = route.responses.get(status)
    assert declared is not None, f"{route.path} answers {status}, which it does not document"
    return declared["model"]


def fits(router: APIRouter, reply: httpx.Response) -> Any:
    """The reply's body, after checking it against the model its route declares for its status."""
    route = route_of(router, reply.request.method, reply.request.url.path)
    model = answer_model(route, reply.status_code)
    assert _forbids_extra(model), f"{model} lets undocumented members through"
    return TypeAdapter(model).validate_python(reply.json())


def _forbids_extra(model: Any) -> bool:
    if isinstance(model, type) and issubclass(model, BaseModel):
        # Problem documents are open by RFC 9457 (each error may add members); every other answer is closed.
        return model.model_config.get("extra") == "forbid" or model.__name__ == "Problem"
    return True


def operation(schema: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    found: dict[str, Any] = schema["paths"][path][method.lower()]
    return found


def parameters(schema: dict[str, Any], method: str, path: str) -> dict[str, dict[str, Any]]:
    """Each documented parameter of an operation by name, after checking that every one is described."""
    params = {p["name"]: p for p in operation(schema, method, path).get("parameters", [])}
    assert all(p.get("description") for p in params.values()), [
        n for n, p in params.items() if not p.get("description")
    ]
    return params


def deprecated(params: dict[str, dict[str, Any]]) -> set[str]:
    return {name for name, p in params.items() if p.get("deprecated")}


def body_schemas(schema: dict[str, Any], method: str, path: str) -> set[str]:
    """The component names the operation's JSON request body refers to (each member of a union)."""
    body = operation(schema, method, path)["requestBody"]["content"]["application/json"]["schema"]
    options = body.get("oneOf") or body.get("anyOf") or [body]
    return {o["$ref"].rsplit("/", 1)[1] for o in options if "$ref" in o}


def component(schema: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = schema["components"]["schemas"][name]
    return found
