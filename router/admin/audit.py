"""``GET /api/audit``: the audit trail, newest first (operator only)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router.admin import paging
from router.admin import scopes as at
from router.admin.guard import admin
from router.admin.params import BadParameter, clamped_limit
from router.runtime.state import app_state
from router.storage.stream_id import StreamId


@admin(at.OPERATOR_ONLY)
async def list_audit(request: Request) -> Response:
    """``?limit=`` (1-1000, default 100) entries; ``?cursor=`` (formerly ``?before=``) pages back from an entry."""
    limit = clamped_limit(request, 100, 1000)
    name, before = paging.cursor(request, "before")
    if before is not None and not StreamId.is_valid(before):
        raise BadParameter(name, f"{name} must be an audit entry id")
    entries = await app_state(request)["audit"].latest(limit, before=before)
    data = [paging.with_iso(e.public(), ms=["at_ms"], names={"at_ms": "at"}) for e in entries]
    last = data[-1]["id"] if len(data) == limit else None
    return JSONResponse(paging.page(data, paging.next_link(request, last, "before"), next_id=last))


routes = [Route("/api/audit", list_audit)]
