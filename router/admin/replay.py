"""Admin API for replays: queue one (202 with the job), read its progress, replay one event.

The workers run queued replays (router/history/replay.py ``ReplayRunner``); these endpoints only create and read the
job records, so a request returns at once whatever the number of events.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router.admin import scopes as at
from router.admin.guard import admin
from router.admin.problems import bad_parameter, problem
from router.history.indexes import EventFilter
from router.history.replay_jobs import MODES, ReplayJobs, ReplayRequest, parse_when
from router.runtime.state import State, app_state
from router.storage.stream_id import StreamId

# Body fields of POST /api/replays that select events, and the EventFilter field each one sets.
_FILTER_FIELDS = ("project", "integration", "credential", "user", "provider_id", "event_type", "status")
# Time bounds: epoch ms, or ISO dates as the events list takes them (afterDate / beforeDate).
_TIME_FIELDS = {"after_ms": "afterDate", "before_ms": "beforeDate"}


def _jobs(state: State) -> ReplayJobs:
    return ReplayJobs.of(state["store"], state["keys"], record_ttl_s=state["settings"].retention_days * 86_400)


async def _body(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _filter(body: dict[str, Any]) -> EventFilter | str:
    """The filter in the body, or the error message."""
    values: dict[str, Any] = {}
    for name in _FILTER_FIELDS:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            return f"{name} must be a string"
        values[name] = value
    for name, iso_name in _TIME_FIELDS.items():
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            return f"{name} must be an integer (epoch ms)"
        iso = body.get(iso_name)
        if value is None and iso is not None:
            try:
                value = parse_when(str(iso))
            except ValueError as exc:
                return f"{iso_name}: {exc}"
        values[name] = value
    return EventFilter(**values)


def _invalid(message: str) -> Response:
    # Every message above starts with the field it is about.
    field = re.match(r"\w*", message, re.ASCII)
    errors = [{"field": (field and field.group()) or "body", "message": message}]
    return problem(400, "invalid", message, message=message, errors=errors)


def _request(body: dict[str, Any], *, event_id: str | None = None) -> ReplayRequest | str:
    rid = body.get("request_id")
    mode = body.get("mode", "reroute")
    dry_run = body.get("dry_run", False)
    if not isinstance(rid, str) or not isinstance(mode, str) or not isinstance(dry_run, bool):
        return "request_id (string), mode (string) and dry_run (boolean) are required or of the wrong type"
    if mode not in MODES:
        return f"mode must be one of {', '.join(MODES)}"
    event_id = event_id or body.get("event_id")
    flt: EventFilter | None = None
    if event_id is None:
        parsed = _filter(body)
        if isinstance(parsed, str):
            return parsed
        flt = parsed
    elif not isinstance(event_id, str):
        return "event_id must be a string"
    try:
        return ReplayRequest(rid, mode=mode, dry_run=dry_run, event_id=event_id, filter=flt)
    except ValueError as exc:
        return str(exc)


async def _create(state: State, replay: ReplayRequest) -> Response:
    if replay.event_id is not None and await state["store"].get(state["keys"].ingest, replay.event_id) is None:
        return problem(404, "not_found")
    job, created = await _jobs(state).create(replay)  # ReplayConflict: 409
    # 202 when queued now; 200 with the existing job when the same request came before (nothing replayed twice).
    return JSONResponse(job.to_json(), status_code=202 if created else 200)


@admin(at.OPERATOR_ONLY)
async def create_replay(request: Request) -> Response:
    """Body: {request_id, mode?, dry_run?, event_id | filter fields (integration, status, after_ms, ...)}."""
    body = await _body(request)
    if body is None:
        return bad_parameter("body", "body must be a JSON object", code="invalid_body")
    replay = _request(body)
    if isinstance(replay, str):
        return _invalid(replay)
    return await _create(app_state(request), replay)


@admin(at.OPERATOR_ONLY)
async def get_replay(request: Request) -> Response:
    job = await _jobs(app_state(request)).get(request.path_params["request_id"])
    if job is None:
        return problem(404, "not_found")
    return JSONResponse(job.to_json())


@admin(at.OPERATOR_ONLY)
async def replay_event(request: Request) -> Response:
    """Body (optional): {mode?, dry_run?, request_id?}; the request id defaults to ``event:<id>:<mode>``."""
    event_id = request.path_params["event_id"]
    if not StreamId.is_valid(event_id):
        return problem(404, "not_found")
    body = await _body(request) if await request.body() else {}
    if body is None:
        return bad_parameter("body", "body must be a JSON object", code="invalid_body")
    mode = body.get("mode", "reroute")
    dry = "dry:" if body.get("dry_run") is True else ""
    body = {"request_id": f"event:{event_id}:{dry}{mode}", **body}
    replay = _request(body, event_id=event_id)
    if isinstance(replay, str):
        return _invalid(replay)
    return await _create(app_state(request), replay)


routes = [
    Route("/api/replays", create_replay, methods=["POST"]),
    Route("/api/replays/{request_id}", get_replay),
    Route("/api/events/{event_id}/replay", replay_event, methods=["POST"]),
]
