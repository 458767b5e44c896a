"""App Events: ``POST /projects/{project_id}/sdk/events/trigger`` with a user token.

Body ``{"name": <App Event name>, "payload": <any JSON>}`` (the payload is not validated, as on the
platform). Answers 201 ``{"id": <event id>}`` once the event is stored; the routing worker then fires
every active workflow on that event name for that user, across integrations. 400 unreadable body,
401/403 token, 404 unknown project, event name or credential, 413 too large, 503 store unavailable.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from router import strict_json
from router.errors import StoreUnavailable
from router.ingress import headers as stored_headers
from router.ingress.observe import observed
from router.ingress.sdk.caller import Refused, identify
from router.ingress.webhooks import error, read_body
from router.runtime.state import app_state
from router.storage.entries import IngestEvent

logger = logging.getLogger(__name__)


def _event(raw: bytes) -> tuple[str, Any]:
    try:
        doc = strict_json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise Refused(400, "invalid_json", message=strict_json.refusal(exc)) from exc
    name = doc.get("name") if isinstance(doc, dict) else None
    if not isinstance(name, str) or not name:
        raise Refused(400, "invalid_body", message='the body must be {"name": "<App Event name>", "payload": {...}}')
    return name, doc.get("payload", {})


async def trigger_app_event(request: Request) -> Response:
    state = app_state(request)
    caller = await identify(request, state)
    name, payload = _event(await read_body(request, state["settings"].max_body_bytes))
    defined = caller.project.app_events
    if name not in defined:
        listed = ", ".join(repr(n) for n in defined) or "none"
        message = f"no App Event named {name[:200]!r} in project {caller.project.id!r}; defined App Events: {listed}"
        return error(404, "unknown_event", message=message)
    event = IngestEvent(
        source="app_event",
        project=caller.project.id,
        user=caller.user.id,
        credential=caller.credential.id if caller.credential else "",
        event_type=name,
        received_at=str(int(time.time() * 1000)),
        headers=stored_headers.stored(request.headers),
        body=json.dumps(payload, separators=(",", ":")).encode(),
        **observed(request).fields(),
    )
    try:
        event_id = await state["store"].append(state["keys"].of_event(*event.tenant).ingest, event.to_fields())
    except StoreUnavailable:
        logger.warning("event store unavailable; App Event refused", extra={"project": caller.project.id})
        raise
    return JSONResponse({"id": event_id}, status_code=201)
