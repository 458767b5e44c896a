"""``/api/keys``: create, list and revoke the admin API's scoped keys (operator only)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router.admin import paging
from router.admin import scopes as at
from router.admin.guard import admin
from router.admin.problems import invalid_body, problem
from router.runtime.state import app_state

MAX_BODY_BYTES = 16_384


def _bad(text: str) -> Response:
    return invalid_body([text])


@admin(at.OPERATOR_ONLY)
async def create_key(request: Request) -> Response:
    """``POST /api/keys`` {name, scopes}: 201 with the full key, which is shown this once and never again."""
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        return _bad(f"body: larger than {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw)
    except ValueError:
        return _bad("body: not valid JSON")
    name, scopes = (body.get("name"), body.get("scopes")) if isinstance(body, dict) else (None, None)
    if not isinstance(name, str) or not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        return _bad("body: {name: string, scopes: [string, ...]}")
    try:
        key, token = await app_state(request)["api_keys"].create(name, scopes)
    except ValueError as exc:
        return _bad(str(exc))
    return JSONResponse({**key.public(), "key": token}, status_code=201, headers={"cache-control": "no-store"})


@admin(at.OPERATOR_ONLY)
async def list_keys(request: Request) -> Response:
    keys = await app_state(request)["api_keys"].list()
    data = [paging.with_iso(k.public(), seconds=["created_at", "last_used_at"]) for k in keys]
    return JSONResponse(paging.page(data, total=len(data)))


@admin(at.OPERATOR_ONLY)
async def revoke_key(request: Request) -> Response:
    key_id = request.path_params["key_id"]
    if not await app_state(request)["api_keys"].revoke(key_id):
        return problem(404, "not_found")
    return JSONResponse({"id": key_id, "revoked": True})


routes = [
    Route("/api/keys", list_keys),
    Route("/api/keys", create_key, methods=["POST"]),
    Route("/api/keys/{key_id}", revoke_key, methods=["DELETE"]),
]
