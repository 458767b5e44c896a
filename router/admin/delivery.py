"""Admin API for deliveries to HTTP targets: dead letters (list, re-drive), a target's state, a job's history."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router.admin import paging
from router.admin import scopes as at
from router.admin.guard import admin
from router.admin.params import clamped_limit
from router.admin.problems import bad_parameter, problem
from router.delivery.disabled import DisabledTargets
from router.delivery.limits import Limiter
from router.delivery.outcomes import DeliveryRecords
from router.delivery.worker import redrive
from router.runtime.state import app_state
from router.storage.entries import TriggerJob
from router.storage.store import StoredEvent
from router.storage.stream_id import StreamId


def _dead(stored: StoredEvent) -> dict[str, Any]:
    # Lenient: a dead letter may be an entry the worker could not read as a job at all (malformed_entry).
    job = TriggerJob.lenient(stored.fields)
    dead = {
        "id": stored.id,
        "job_id": job.job_id,
        "workflow": job.workflow,
        "credential": job.credential,
        "event_id": job.event_id,
        "reason": job.dead_reason,
        "dead_at": float(job.dead_at or 0),
        "attempts": paging.attempts_with_iso(json.loads(job.attempts or b"[]")),
        "body_bytes": len(job.body),
    }
    return paging.with_iso(dead, seconds=["dead_at"])


@admin(at.OPERATOR_ONLY)
async def list_dead_letters(request: Request) -> Response:
    state = app_state(request)
    workflow = request.query_params.get("workflow")
    name, given = paging.cursor(request, "after")
    after = given or "-"
    limit = clamped_limit(request, 100, 1000)
    if after != "-" and not StreamId.is_valid(after):
        return bad_parameter(name, f"{name} must be a dead-letter id")
    entries = await state["store"].scan(state["keys"].delivery_dead, after=after, count=limit)
    data = [d for d in map(_dead, entries) if workflow is None or d["workflow"] == workflow]
    next_after = entries[-1].id if len(entries) == limit else None
    return JSONResponse(paging.page(data, paging.next_link(request, next_after, "after"), next_id=next_after))


@admin(at.OPERATOR_ONLY)
async def redrive_dead_letters(request: Request) -> Response:
    """Body: {"id": "<dead-letter id>"} for one, or {"workflow": "<id>"} for every dead letter of that target."""
    state = app_state(request)
    try:
        body = await request.json()
    except ValueError:
        return bad_parameter("body", "body must be JSON", code="invalid_body")
    entry_id = body.get("id") if isinstance(body, dict) else None
    workflow = body.get("workflow") if isinstance(body, dict) else None
    if (
        not isinstance(entry_id, str | None)
        or not isinstance(workflow, str | None)
        or (entry_id is None) == (workflow is None)
    ):
        return bad_parameter("id", 'give exactly one of "id" or "workflow"', code="invalid_body")
    if entry_id is not None and not StreamId.is_valid(entry_id):
        return problem(404, "not_found")
    count = await redrive(state["store"], state["keys"], entry_id=entry_id, workflow=workflow)
    if entry_id is not None and count == 0:
        return problem(404, "not_found")
    return JSONResponse({"redriven": count})


@admin(at.read(at.workflow()))
async def target_state(request: Request) -> Response:
    state = app_state(request)
    workflow_id = request.path_params["workflow_id"]
    workflow = state["cache"].current.workflows.get(workflow_id)
    if workflow is None or workflow.target.type != "http":
        return problem(404, "not_found")
    disabled = await DisabledTargets.of(state["store"], state["keys"]).record(workflow_id)
    breaker = await Limiter.of(state["store"], state["keys"]).state(workflow_id)
    if disabled is not None:
        disabled = paging.with_iso(disabled, seconds=["at"])
    return JSONResponse({"workflow": workflow_id, "disabled": disabled, "breaker": dict(breaker)})


@admin(at.write(at.workflow()))
async def enable_target(request: Request) -> Response:
    """Re-enable a target that a 410 Gone disabled (its dead letters can then be re-driven)."""
    state = app_state(request)
    workflow_id = request.path_params["workflow_id"]
    removed = await DisabledTargets.of(state["store"], state["keys"]).enable(workflow_id)
    return JSONResponse({"workflow": workflow_id, "enabled": True, "was_disabled": removed})


@admin(at.OPERATOR_ONLY)
async def delivery_history(request: Request) -> Response:
    state = app_state(request)
    record: dict[str, Any] = await DeliveryRecords.of(state["store"], state["keys"]).history(
        request.path_params["job_id"]
    )
    if not record:
        return problem(404, "not_found")
    record["attempts"] = paging.attempts_with_iso(json.loads(record.get("attempts", "[]")))
    return JSONResponse(paging.with_iso(record, seconds=["at"]))


routes = [
    Route("/api/dead-letters", list_dead_letters),
    Route("/api/dead-letters/redrive", redrive_dead_letters, methods=["POST"]),
    Route("/api/targets/{workflow_id}", target_state),
    Route("/api/targets/{workflow_id}/enable", enable_target, methods=["POST"]),
    Route("/api/deliveries/{job_id}", delivery_history),
]
