"""Reading one operation of the admin API's OpenAPI document, as a client generator would."""

from __future__ import annotations

from typing import Any

import httpx


async def openapi(http: httpx.AsyncClient) -> dict[str, Any]:
    reply = await http.get("/api/openapi.json")
    assert reply.status_code == 200, reply.text
    document = reply.json()
    assert isinstance(document, dict)
    return document


def operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    """The operation, with a summary (what a client's method is documented by)."""
    found = document["paths"][path][method.lower()]
    assert isinstance(found, dict) and found.get("summary"), (method, path)
    return found


def parameters(found: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each parameter by name; every one is described, so the docs say what it takes."""
    declared = {p["name"]: p for p in found.get("parameters", [])}
    assert all(p.get("description") for p in declared.values()), declared
    return declared


def schema_name(found: dict[str, Any], status: int | str) -> str:
    """The component a documented JSON answer refers to (its model's name)."""
    content = found["responses"][str(status)]["content"]
    [media] = content.values()
    ref = media["schema"]["$ref"]
    assert isinstance(ref, str)
    return ref.removeprefix("#/components/schemas/")


def body_name(found: dict[str, Any]) -> str:
    """The request body's model, documented as JSON and required."""
    body = found["requestBody"]
    assert body["required"] is True
    ref = body["content"]["application/json"]["schema"]["$ref"]
    assert isinstance(ref, str)
    return ref.removeprefix("#/components/schemas/")


def component(document: dict[str, Any], name: str) -> dict[str, Any]:
    found = document["components"]["schemas"][name]
    assert isinstance(found, dict)
    return found
