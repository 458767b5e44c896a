"""``/api/keys``: create, list and revoke the admin API's scoped keys (operator only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from router.admin import paging
from router.admin import scopes as at
from router.admin.guard import admin, admin_router
from router.admin.problems import invalid_body, problem, responses
from router.ingress.webhooks import BodyTooLarge
from router.runtime.state import app_state

MAX_BODY_BYTES = 16_384

# A body without a Content-Type is still read as JSON, as it always was.
router = admin_router(tags=["keys"])


async def _bounded(request: Request) -> None:
    if len(await request.body()) > MAX_BODY_BYTES:
        raise BodyTooLarge(MAX_BODY_BYTES)


class NewKey(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="What the key is for; not blank")
    scopes: list[str] = Field(
        min_length=1, description="`operator`, `project:<id>:read` or `project:<id>:write`", examples=[["operator"]]
    )


class Key(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The key's id: the part of the key after `hrk_` and before the next `_`")
    name: str
    scopes: list[str]
    created_at: float = Field(description="Unix seconds")
    last_used_at: float | None = Field(description="Unix seconds; null until the key is used")
    revoked: bool


class CreatedKey(Key):
    key: str = Field(description="The full key (`hrk_<id>_<secret>`): shown in this answer only, never again")


class ListedKey(Key):
    created_at_iso: str | None = Field(description="`created_at`, ISO 8601 UTC")
    last_used_at_iso: str | None = Field(description="`last_used_at`, ISO 8601 UTC; null until the key is used")


class KeyPage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: list[ListedKey]
    next: None = Field(description="Always null: every key is on the one page")
    total: int


class Revoked(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    revoked: bool = Field(description="Always true")


@router.post(
    "/keys",
    response_model=CreatedKey,
    status_code=201,
    summary="Create a key (shown once)",
    dependencies=[Depends(_bounded)],
    responses=responses(s413=f"A body over {MAX_BODY_BYTES} bytes (`body_too_large`)"),
)
@admin(at.OPERATOR_ONLY)
async def create_key(request: Request, body: NewKey) -> Response:
    """201 with the full key, which is shown this once and never again; only a hash of its secret is stored."""
    try:
        key, token = await app_state(request)["api_keys"].create(body.name, body.scopes)
    except ValueError as exc:
        text = str(exc)  # "name: ..." or a scope that is not one
        return invalid_body([text if text.startswith("name:") else f"scopes: {text}"], status=422)
    return JSONResponse({**key.public(), "key": token}, status_code=201, headers={"cache-control": "no-store"})


@router.get("/keys", response_model=KeyPage, summary="Every key, revoked ones included (never their secrets)")
@admin(at.OPERATOR_ONLY)
async def list_keys(request: Request) -> Response:
    keys = await app_state(request)["api_keys"].list()
    data = [paging.with_iso(k.public(), seconds=["created_at", "last_used_at"]) for k in keys]
    return JSONResponse(paging.page(data, total=len(data)))


@router.delete("/keys/{key_id}", response_model=Revoked, summary="Revoke a key")
@admin(at.OPERATOR_ONLY)
async def revoke_key(
    request: Request, key_id: Annotated[str, Path(description="The key's id (not the key itself)")]
) -> Response:
    """A revoked key stays listed; requests bearing it get 401. 404 for a key that is unknown or already revoked."""
    if not await app_state(request)["api_keys"].revoke(key_id):
        return problem(404, "not_found")
    return JSONResponse({"id": key_id, "revoked": True})
