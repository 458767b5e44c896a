"""Admin API for event destinations and the notification stream.

Destinations are registry records (also managed by ``hookrouter apply``); their secrets (URL, header
values) are write-only here: responses show that they are set, never what they are.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router.admin import paging
from router.admin import scopes as at
from router.admin.guard import admin
from router.admin.params import clamped_limit
from router.admin.problems import bad_parameter, problem
from router.egress.checks import destination_refusals
from router.notifications.delivery import DisabledDestinations
from router.notifications.destinations import RenderError, validate
from router.notifications.events import workflow_failure
from router.notifications.fanout import event_of
from router.runtime.state import app_state
from router.storage.entries import MalformedEntry, Notification
from router.storage.stream_id import StreamId
from subscriptions.destinations import Destination
from subscriptions.snapshot import Snapshot


def redacted(destination: Destination, disabled: bytes | str | None) -> dict[str, Any]:
    data = destination.model_dump(mode="json", exclude={"url", "headers"})
    url = destination.url.get_secret_value() if destination.url else None
    # The host says where events go; the path of a Slack webhook URL is the credential itself.
    data["url"] = f"{urlsplit(url).scheme}://{urlsplit(url).hostname}/…" if url else None
    data["headers"] = {name: "<redacted>" for name in destination.headers}
    record = json.loads(disabled) if disabled else None
    data["auto_disabled"] = paging.with_iso(record, seconds=["at"]) if isinstance(record, dict) else record
    return data


async def _disabled(request: Request) -> dict[str, bytes | str]:
    state = app_state(request)
    return await DisabledDestinations.of(state["store"], state["keys"]).records()


@admin(at.read(at.query("project")))
async def list_destinations(request: Request) -> Response:
    state = app_state(request)
    disabled = await _disabled(request)
    project = request.query_params.get("project")
    data = [
        redacted(d, disabled.get(d.id))
        for d in state["cache"].current.destinations.values()
        if project is None or d.project == project
    ]
    return JSONResponse(paging.page(data, total=len(data)))


@admin(at.read(at.destination()))
async def get_destination(request: Request) -> Response:
    destination = app_state(request)["cache"].current.destinations.get(request.path_params["destination_id"])
    if destination is None:
        return problem(404, "not_found")
    return JSONResponse(redacted(destination, (await _disabled(request)).get(destination.id)))


@admin(at.write(at.destination_put()))
async def put_destination(request: Request) -> Response:
    """Create or replace a destination (the body is the record without its id)."""
    state = app_state(request)
    try:
        body = await request.json()
        destination = Destination.model_validate({**body, "id": request.path_params["destination_id"]})
        validate(destination)
    except (ValueError, TypeError, ValidationError, RenderError) as exc:
        return problem(400, "invalid_destination", _message(exc), message=_message(exc))
    refusals = destination_refusals(destination, state["egress"])
    if refusals:
        return problem(400, "address_refused", "; ".join(refusals), message="; ".join(refusals))
    if destination.project not in state["cache"].current.projects:
        return problem(
            400,
            "unknown_project",
            "project: no such project",
            errors=[{"field": "project", "message": "no such project"}],
        )
    change = await state["registry"].put(destination)
    return JSONResponse({"id": destination.id, "change": change}, status_code=201 if change == "created" else 200)


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        # Field names and messages only: pydantic's default text would echo the input, secrets included.
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return str(exc) if isinstance(exc, RenderError) else "body must be a JSON object"


async def _set_enabled(request: Request, enabled: bool) -> Response:
    state = app_state(request)
    destination = state["cache"].current.destinations.get(request.path_params["destination_id"])
    if destination is None:
        return problem(404, "not_found")
    change = await state["registry"].put(destination.model_copy(update={"enabled": enabled}))
    if enabled:  # re-enabling also lifts an automatic disable and starts the failure count afresh
        await DisabledDestinations.of(state["store"], state["keys"]).lift(destination.id)
    return JSONResponse({"id": destination.id, "enabled": enabled, "change": change})


@admin(at.write(at.destination()))
async def enable_destination(request: Request) -> Response:
    return await _set_enabled(request, True)


@admin(at.write(at.destination()))
async def disable_destination(request: Request) -> Response:
    return await _set_enabled(request, False)


@admin(at.write(at.destination()))
async def delete_destination(request: Request) -> Response:
    state = app_state(request)
    removed = await state["registry"].delete("destination", request.path_params["destination_id"])
    if not removed:
        return problem(404, "not_found", deleted=False)
    return JSONResponse({"deleted": removed})


def sample_event(snapshot: Snapshot, project: str) -> dict[str, Any]:
    event = workflow_failure(
        snapshot,
        project=project,
        workflow="sample-workflow",
        user="sample-user",
        execution_id="sample-execution",
        error="This is a test event from hookrouter",
    )
    event["message"] = "Test event from hookrouter: this destination is reachable"
    return event


# Transport failures the test action reports as one: it must not tell a closed port from a filtered one or
# from a service that speaks another protocol, or it would serve as a port scanner of the allowed networks.
_NO_CONNECTION = frozenset({"invalid_url", "unsupported_protocol", "address_refused"})
_REFUSED = {"ok": False, "status": None, "latency_ms": None, "error": "address_refused"}


@admin(at.write(at.destination()))
async def test_destination(request: Request) -> Response:
    """Send a sample event now; answer with the destination's status, latency and error, if any."""
    state = app_state(request)
    snapshot = state["cache"].current
    destination = snapshot.destinations.get(request.path_params["destination_id"])
    if destination is None:
        return problem(404, "not_found")
    if destination_refusals(destination, state["egress"]):
        return JSONResponse(_REFUSED)  # saved before the policy changed, or by apply with another allow-list
    started = time.monotonic()
    try:
        result = await state["destination_sender"].send_once(destination, sample_event(snapshot, destination.project))
    except RenderError as exc:
        return JSONResponse({"ok": False, "status": None, "latency_ms": 0, "error": f"render_error: {exc}"})
    if result.error_class == "address_refused":
        return JSONResponse(_REFUSED)
    if destination.type != "email" and result.status is None and result.error_class not in _NO_CONNECTION:
        return JSONResponse({"ok": False, "status": None, "latency_ms": None, "error": "unreachable"})
    return JSONResponse(
        {
            "ok": result.verdict == "success",
            "status": result.status,
            "latency_ms": round((time.monotonic() - started) * 1000, 1),
            "error": result.error_class,
        }
    )


@admin(at.OPERATOR_ONLY)
async def list_notifications(request: Request) -> Response:
    state = app_state(request)
    kind = request.query_params.get("type")
    limit = clamped_limit(request, 50, 1000)
    _, before = paging.cursor(request)
    if before is not None and not StreamId.is_valid(before):
        return bad_parameter("cursor", "cursor must be a notification id")
    entries = await state["store"].latest(state["keys"].notifications, limit, before=before)
    data = [{"id": e.id, **event_of(e)} for e in entries if kind in (None, Notification.lenient(e.fields).type)]
    last = entries[-1].id if len(entries) == limit else None
    return JSONResponse(paging.page(data, paging.next_link(request, last)))


@admin(at.OPERATOR_ONLY)
async def replay_notification(request: Request) -> Response:
    """Send a stored event to the destinations again (as a new entry marked ``replay_of``)."""
    state = app_state(request)
    entry_id = request.path_params["notification_id"]
    entry = await state["store"].get(state["keys"].notifications, entry_id)
    if entry is None:
        return problem(404, "not_found")
    try:
        copy = dataclasses.replace(Notification.from_fields(entry.fields, entry.id), replay_of=entry.id)
    except MalformedEntry as exc:
        return problem(409, "malformed_entry", f"stored entry field {exc.field} is unreadable", field=exc.field)
    new_id = await state["store"].append(state["keys"].notifications, copy.to_fields())
    return JSONResponse({"id": new_id, "replay_of": entry.id}, status_code=202)


routes = [
    Route("/api/destinations", list_destinations),
    Route("/api/destinations/{destination_id}", get_destination),
    Route("/api/destinations/{destination_id}", put_destination, methods=["PUT"]),
    Route("/api/destinations/{destination_id}", delete_destination, methods=["DELETE"]),
    Route("/api/destinations/{destination_id}/enable", enable_destination, methods=["POST"]),
    Route("/api/destinations/{destination_id}/disable", disable_destination, methods=["POST"]),
    Route("/api/destinations/{destination_id}/test", test_destination, methods=["POST"]),
    Route("/api/notifications", list_notifications),
    Route("/api/notifications/{notification_id}/replay", replay_notification, methods=["POST"]),
]
