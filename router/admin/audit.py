"""``GET /api/audit``: the audit trail, newest first (operator only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from router.admin import paging
from router.admin import scopes as at
from router.admin.guard import admin, admin_router
from router.admin.params import BadParameter, clamped_limit
from router.runtime.state import app_state
from router.storage.stream_id import StreamId

router = admin_router(tags=["audit"])


class AuditEntry(BaseModel):
    id: str = Field(description="The entry's id; pass it as `cursor` to page back from it")
    at_ms: int = Field(description="When, in epoch milliseconds")
    at: str = Field(description="When, ISO 8601 UTC")
    actor: str = Field(description="Who: an API key's id, `admin-token`, or `cli`")
    action: str = Field(description="What: the route's or command's name")
    target: str = Field(description="The path (or record) it acted on")
    status: int = Field(description="The HTTP status it was answered, refusals and failures included")


class AuditPage(BaseModel):
    data: list[AuditEntry]
    next: str | None = Field(description="The next page's path and query; null on the last page")
    next_id: str | None = Field(description="The cursor `next` carries")


@router.get("/audit", response_model=AuditPage, summary="The audit trail, newest first")
@admin(at.OPERATOR_ONLY)
async def list_audit(
    request: Request,
    limit: Annotated[int | None, Query(description="Entries per page, 1-1000 (default 100; larger is capped)")] = None,
    cursor: Annotated[str | None, Query(description="An entry id: the page starts after it")] = None,
    before: Annotated[str | None, Query(deprecated=True, description="The older name of `cursor`")] = None,
) -> Response:
    limit = clamped_limit(request, 100, 1000)
    name, before = paging.cursor(request, "before")
    if before is not None and not StreamId.is_valid(before):
        raise BadParameter(name, f"{name} must be an audit entry id")
    entries = await app_state(request)["audit"].latest(limit, before=before)
    data = [paging.with_iso(e.public(), ms=["at_ms"], names={"at_ms": "at"}) for e in entries]
    last = data[-1]["id"] if len(data) == limit else None
    return JSONResponse(paging.page(data, paging.next_link(request, last, "before"), next_id=last))
