"""``GET /api/audit``: the audit trail, newest first (operator only)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router.admin import scopes as at
from router.admin.core import admin
from router.admin.params import BadParameter, clamped_limit
from router.runtime.state import app_state
from router.storage.stream_id import StreamId


@admin(at.OPERATOR_ONLY)
async def list_audit(request: Request) -> Response:
    """``?limit=`` (1-1000, default 100) entries; ``?before=<id>`` pages back from an entry."""
    limit = clamped_limit(request, 100, 1000)
    before = request.query_params.get("before")
    if before is not None and not StreamId.is_valid(before):
        raise BadParameter("before", "before must be an audit entry id")
    entries = await app_state(request)["audit"].latest(limit, before=before)
    data = [e.public() for e in entries]
    return JSONResponse({"data": data, "next": data[-1]["id"] if len(data) == limit else None})


routes = [Route("/api/audit", list_audit)]
