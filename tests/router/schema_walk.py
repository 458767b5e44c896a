"""The admin API's operations as its published schema lists them: what a client sees is what the refusal tests walk,
so an operation the schema documents cannot escape them, whichever way its route was added."""

from __future__ import annotations

import re
from typing import Any

import httpx

# A harmless value for any path parameter: it matches every convertor in use (str, int, path).
PARAM = re.compile(r"\{[^}]+\}")


def filled(path: str) -> str:
    return PARAM.sub("1", path)


async def published(http: httpx.AsyncClient) -> dict[str, Any]:
    reply = await http.get("/api/openapi.json")  # public: no credential
    assert reply.status_code == 200, reply.text
    schema: dict[str, Any] = reply.json()
    return schema


def operations(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """(method, path) of every operation, the server's base path in front and path parameters filled in."""
    base = schema["servers"][0]["url"]
    return [(method.upper(), filled(base + path)) for path, methods in schema["paths"].items() for method in methods]
